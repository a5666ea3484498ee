import type { Task } from '@agentmanager/contracts';
import type { WorkerConfig } from '../config';
import { auditorSystemPrompt, plannerSystemPrompt, taskPrompt, type ToolDescription,workerSystemPrompt } from '../prompts';
import { type HandlerContext, HandlerError, NonRetryableError, type TaskHandler } from './types';

interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface Tool extends ToolDescription {
  run(input: unknown, ctx: HandlerContext): Promise<unknown>;
}

/** Arithmetic on numbers with + - * / % ^ and parentheses; no identifiers, no eval. */
export function calculate(expression: string): number {
  const tokens = expression.match(/\d+(?:\.\d+)?(?:e[+-]?\d+)?|[-+*/%^()]|\S/gi) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const take = () => tokens[i++];
  const primary = (): number => {
    const t = take();
    if (t === '(') {
      const v = sum();
      if (take() !== ')') throw new Error('missing )');
      return v;
    }
    if (t === '-') return -primary();
    if (t === '+') return primary();
    if (t !== undefined && /^\d/.test(t)) return Number(t);
    throw new Error(`unexpected ${t ?? 'end of input'}`);
  };
  const power = (): number => {
    const base = primary();
    if (peek() === '^') {
      take();
      return base ** power();
    }
    return base;
  };
  const product = (): number => {
    let v = power();
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = take();
      const r = power();
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = take() === '+' ? v + product() : v - product();
    return v;
  };
  const value = sum();
  if (i !== tokens.length) throw new Error(`unexpected ${tokens[i]}`);
  return value;
}

function toolsFor(config: WorkerConfig): Tool[] {
  const tools: Tool[] = [
    { name: 'echo', description: 'returns action_input unchanged (to note an intermediate result)', run: async (input) => input },
    {
      name: 'calc',
      description: 'evaluates an arithmetic expression string, e.g. "(2+3)*4"; numbers and + - * / % ^ ( ) only',
      run: async (input) => calculate(String(input)),
    },
  ];
  if (config.llm.tools.http_get) {
    tools.push({
      name: 'http_get',
      description: 'GETs an http(s) URL (action_input: the URL string) and returns {status, body} with the body cut to 4000 characters',
      run: async (input, ctx) => {
        const url = String(input);
        if (!/^https?:\/\//.test(url)) throw new Error('action_input must be an http(s) URL');
        const res = await fetch(url, { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(15_000)]) });
        return { status: res.status, body: (await res.text()).slice(0, 4000) };
      },
    });
  }
  return tools;
}

/** Pulls the JSON object out of a reply (tolerates ```json fences and prose around it). */
export function parseReply(content: string): Record<string, unknown> | undefined {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(content);
  const text = (fenced ? fenced[1] : content).trim();
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    const parsed: unknown = JSON.parse(text.slice(start, end + 1));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function chat(config: WorkerConfig, messages: ChatMessage[], signal: AbortSignal): Promise<string> {
  const url = `${config.llm.base_url.replace(/\/+$/, '')}/chat/completions`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(config.llm.api_key ? { authorization: `Bearer ${config.llm.api_key}` } : {}) },
      body: JSON.stringify({ model: config.llm.model, messages, max_tokens: config.llm.max_tokens, temperature: 0 }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(config.llm.timeout_sec * 1000)]),
    });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new HandlerError(`The LLM API at ${url} is unreachable: ${err instanceof Error ? err.message : String(err)}`, 'llm_unreachable');
  }
  const text = await res.text();
  if (!res.ok) {
    const detail = { status: res.status, body: text.slice(0, 1000) };
    if (res.status === 429 || res.status >= 500) throw new HandlerError(`The LLM API answered ${res.status}`, 'llm_unavailable', detail);
    throw new NonRetryableError(`The LLM API refused the request (${res.status})`, 'llm_rejected', detail);
  }
  try {
    const body = JSON.parse(text) as { choices?: { message?: { content?: unknown } }[] };
    const content = body.choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new Error('no choices[0].message.content');
    return content;
  } catch (err) {
    throw new HandlerError(`The LLM API's answer is not a chat completion: ${err instanceof Error ? err.message : String(err)}`, 'llm_bad_response');
  }
}

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

type Role = 'worker' | 'planner' | 'auditor';

/** Checks a final answer for the role; returns a complaint for the model, or undefined when fine. */
export function finalAnswerProblem(role: Role, answer: unknown): string | undefined {
  const obj = answer && typeof answer === 'object' && !Array.isArray(answer) ? (answer as Record<string, unknown>) : undefined;
  if (role === 'planner') {
    if (!obj || !Array.isArray(obj.tasks) || obj.tasks.length === 0) return 'final_answer must be {"tasks": [...]} with at least one task';
    const bad = (obj.tasks as unknown[]).findIndex((t) => !t || typeof t !== 'object' || typeof (t as { key?: unknown }).key !== 'string' || typeof (t as { type?: unknown }).type !== 'string');
    if (bad >= 0) return `tasks[${bad}] needs a string "key" and "type"`;
  }
  if (role === 'auditor') {
    if (!obj || typeof obj.is_successful !== 'boolean') return 'final_answer must have a boolean "is_successful"';
    if (typeof obj.feedback !== 'string') return 'final_answer must have a string "feedback"';
    if (!Array.isArray(obj.rework_suggestions)) return 'final_answer must have a "rework_suggestions" array';
    if (typeof obj.confidence_score !== 'number' || obj.confidence_score < 0 || obj.confidence_score > 1) return '"confidence_score" must be a number from 0 to 1';
  }
  return undefined;
}

/**
 * The Reason-Act loop (seed 000's WorkerAgent): ask the model, run the tool it names, feed the
 * observation back, until it gives a final answer or max_iterations runs out. Each step goes to
 * ra_history through ctx.record; the final answer is the task's result.
 */
export function reasonAct(role: Role): TaskHandler {
  return async (task: Task, ctx: HandlerContext) => {
    const tools = toolsFor(ctx.config);
    const system = role === 'planner' ? plannerSystemPrompt(tools) : role === 'auditor' ? auditorSystemPrompt(tools) : workerSystemPrompt(tools);
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: taskPrompt(task) },
    ];
    const max = ctx.config.llm.max_iterations;
    for (let i = 0; i < max; i++) {
      const content = await chat(ctx.config, messages, ctx.signal);
      messages.push({ role: 'assistant', content });
      const reply = parseReply(content);
      let observation: unknown;
      if (!reply) {
        observation = 'Error: your reply was not one JSON object. Answer with {"thought", "action", "action_input"} or {"thought", "final_answer"}.';
        ctx.record({ thought: content.slice(0, 2000), action: null, observation });
      } else if ('final_answer' in reply) {
        const problem = finalAnswerProblem(role, reply.final_answer);
        if (!problem) {
          ctx.record({ thought: text(reply.thought), action: 'final_answer', observation: null });
          return reply.final_answer;
        }
        observation = `Error: ${problem}. Try again.`;
        ctx.record({ thought: text(reply.thought), action: 'final_answer', observation });
      } else {
        const name = text(reply.action);
        const tool = tools.find((t) => t.name === name);
        try {
          observation = tool ? await tool.run(reply.action_input, ctx) : `Error: unknown tool "${name}"; tools are ${tools.map((t) => t.name).join(', ')}`;
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          observation = `Error: ${err instanceof Error ? err.message : String(err)}`;
        }
        ctx.record({ thought: text(reply.thought), action: { tool: name, input: reply.action_input ?? null }, observation });
      }
      messages.push({ role: 'user', content: `Observation: ${JSON.stringify(observation)}` });
      void ctx.progress(Math.min(0.95, (i + 1) / max), `iteration ${i + 1}`);
    }
    throw new HandlerError(`No final answer after ${max} iterations`, 'max_iterations');
  };
}

export const LLM_HANDLERS: Record<string, TaskHandler> = {
  llm: reasonAct('worker'),
  plan: reasonAct('planner'),
  audit: reasonAct('auditor'),
};
