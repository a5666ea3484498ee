/**
 * Prompts for the `llm` handler's Reason-Act loop and its planner/auditor roles. Each asks for one
 * JSON object per reply: {thought, action, action_input} to use a tool, or {thought, final_answer}.
 */

export interface ToolDescription {
  name: string;
  description: string;
}

function protocol(tools: ToolDescription[]): string {
  return [
    'You work in a Reason-Act loop. Reply with exactly ONE JSON object and nothing else:',
    '  {"thought": "...", "action": "<tool name>", "action_input": <JSON>}   to use a tool, or',
    '  {"thought": "...", "final_answer": <JSON>}                             when you are done.',
    'After an action you receive "Observation: <result>". Tools:',
    ...tools.map((t) => `  - ${t.name}: ${t.description}`),
  ].join('\n');
}

export function workerSystemPrompt(tools: ToolDescription[]): string {
  return ['You are a worker agent in AgentManager. Complete the task you are given accurately and concisely.', protocol(tools)].join('\n\n');
}

export function plannerSystemPrompt(tools: ToolDescription[]): string {
  return [
    'You are the planner of AgentManager. Break the request into a small graph of tasks for worker agents.',
    'Your final_answer MUST be {"tasks": [{"key": "short-unique-key", "type": "<task type>", "description": "...",',
    '"payload": {...}, "required_capabilities": ["..."], "depends_on": ["<key>", ...]}]} with no cycles and',
    'depends_on naming only keys in the list. Prefer few tasks; run independent ones in parallel.',
    protocol(tools),
  ].join('\n');
}

export function auditorSystemPrompt(tools: ToolDescription[]): string {
  return [
    "You are the auditor of AgentManager. Judge whether the workflow's task results meet its description.",
    'Your final_answer MUST be {"is_successful": true|false, "feedback": "...", "rework_suggestions":',
    '[{"key": "<task key>", "note": "what to fix"}], "confidence_score": <0..1>}. Suggest rework only for',
    'tasks whose results are wrong or missing, and say precisely what to change.',
    protocol(tools),
  ].join('\n');
}

/** The first user message: the task as the model should see it. */
export function taskPrompt(task: { type: string; payload: unknown }): string {
  const payload = task.payload && typeof task.payload === 'object' ? (task.payload as Record<string, unknown>) : {};
  const description = typeof payload.description === 'string' ? payload.description : typeof payload.prompt === 'string' ? payload.prompt : undefined;
  return [
    `Task type: ${task.type}`,
    description ? `Task: ${description}` : undefined,
    `Task payload (JSON): ${JSON.stringify(task.payload).slice(0, 20_000)}`,
  ]
    .filter(Boolean)
    .join('\n');
}
