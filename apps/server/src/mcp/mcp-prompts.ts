/** The prompts the MCP endpoint offers (kebab-case), rendered from their arguments. */
export interface PromptArgument {
  name: string;
  description: string;
  required: boolean;
}

export interface McpPrompt {
  name: string;
  title: string;
  description: string;
  arguments: PromptArgument[];
  render(args: Record<string, string | undefined>): string;
}

export const VERDICT_EXAMPLE = {
  is_successful: false,
  feedback: 'What is right and what is wrong, in two or three sentences.',
  rework_suggestions: [{ key: 'the task key or id to redo', note: 'what to change' }],
  confidence_score: 0.8,
};

function capabilityList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(/[\s,]+/)
    .map((c) => c.trim())
    .filter(Boolean);
}

export const PROMPTS: readonly McpPrompt[] = [
  {
    name: 'work-on-next-task',
    title: 'Work on the next task',
    description: 'The worker loop: register, claim a task, lock the files it touches, do the work, report the outcome.',
    arguments: [
      { name: 'agent_name', description: 'The name to register under (stable across restarts)', required: true },
      { name: 'capabilities', description: 'Comma-separated skills, e.g. "code,python"', required: false },
    ],
    render: (args) => {
      const name = args.agent_name ?? 'agent';
      const capabilities = capabilityList(args.capabilities);
      return [
        `You are the AgentManager worker "${name}". Work through tasks with these tool calls:`,
        '',
        `1. register_agent {"name": ${JSON.stringify(name)}, "type": "worker", "capabilities": ${JSON.stringify(capabilities)}} — keep the returned id as agent_id. Calling it again after a restart returns the same agent.`,
        '2. claim_tasks {"agent_id": <agent_id>, "max_tasks": 1, "wait_seconds": 20} — if "tasks" is empty, call it again. Otherwise take the task and remember its id and its "attempt".',
        '3. acquire_file_lock {"path": <file you will change>, "access": "write", "agent_id": <agent_id>, "task_id": <task id>} for every file the work changes that is not already in the task\'s file_dependencies (those are locked for you). On lock_conflict, read details.conflicts: wait (wait_seconds) or retry later; never write without the lock.',
        '4. Do the work described by the task\'s type and payload. Every minute or so call report_progress {"task_id", "agent_id", "attempt", "progress": 0..1, "message"} (it also keeps your lease), and send_heartbeat {"agent_id"} every heartbeat_interval_sec seconds.',
        '5. complete_task {"task_id", "agent_id", "attempt", "result": <what you produced>} — or fail_task {"task_id", "agent_id", "attempt", "error": {"code", "message"}, "retryable": true|false} if you cannot finish. Locks tied to the task are released for you. Then go back to step 2.',
        '',
        'Rules: always pass back the attempt you were given. If any call returns stale_attempt, stop working on that task at once and do not report on it again: the server has given it to someone else. Errors come back as JSON {code, message, details}; validation_failed lists the fields to fix.',
      ].join('\n');
    },
  },
  {
    name: 'review-workflow',
    title: 'Review a workflow',
    description: "The auditor's checklist for a finished workflow, and the verdict JSON the server expects.",
    arguments: [
      { name: 'workflow_id', description: 'The workflow to review', required: true },
      { name: 'goal', description: 'What the workflow was meant to achieve, if you know it', required: false },
    ],
    render: (args) =>
      [
        `You are the auditor of workflow ${args.workflow_id ?? '<workflow_id>'}.${args.goal ? ` Its goal: ${args.goal}` : ''}`,
        '',
        'You hold the workflow\'s audit task (claimed with claim_tasks). Read the workflow and its tasks (get_workflow, list_tasks {"workflow_id"}, get_task for each), then check:',
        '1. Every task completed; none failed, was cancelled or is still running.',
        "2. Each task's result does what its type and payload asked, and is consistent with the results it depended on.",
        '3. The combined result meets the workflow goal; nothing the goal asks for is missing.',
        '4. The logs and Reason-Act histories show no ignored errors, skipped steps or guessed data.',
        '5. Files changed under locks agree with each other (no lost or conflicting edits).',
        '',
        'Then call complete_task on the audit task with this verdict as its result (the server reads exactly these fields):',
        '```json',
        JSON.stringify(VERDICT_EXAMPLE, null, 2),
        '```',
        'is_successful: true only if every check passes. rework_suggestions: one entry per task to redo, keyed by the task key in the workflow, empty when none; those tasks run again (up to the workflow max_rework_cycles) with your note. confidence_score: 0..1, how sure you are.',
      ].join('\n'),
  },
];
