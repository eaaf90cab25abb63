/** What bounds one tool loop (`agent:` in the config file). */
export interface AgentBudgets {
  /** Model calls in one run, the final tool-free one included. */
  maxSteps: number;
  /** Tool calls in one run, all steps together. */
  maxToolCalls: number;
  /** Wall time of one run, in milliseconds. */
  timeBudgetMs: number;
  /** Input plus output tokens of one run; undefined: no limit. */
  tokenBudget: number | undefined;
  /** Block the same tool with the same arguments the third time, end the run at the second block. */
  loopDetection: boolean;
  /** A tool's own limit when it declares none, in milliseconds. */
  toolTimeoutMs: number;
}

export const DEFAULT_BUDGETS: AgentBudgets = {
  maxSteps: 8,
  maxToolCalls: 16,
  timeBudgetMs: 120_000,
  tokenBudget: undefined,
  loopDetection: true,
  toolTimeoutMs: 30_000,
};

/** Why a loop ended: the model was done, or a budget ended it. */
export type StopReason = 'done' | 'max_steps' | 'max_tool_calls' | 'time_budget' | 'token_budget' | 'loop';

/** The `agent:` section as the loop's budgets. */
export function agentBudgets(config: { max_steps: number; max_tool_calls: number; time_budget: number; token_budget?: number | undefined; loop_detection: boolean; tool_timeout: number }): AgentBudgets {
  return {
    maxSteps: config.max_steps,
    maxToolCalls: config.max_tool_calls,
    timeBudgetMs: config.time_budget,
    tokenBudget: config.token_budget,
    loopDetection: config.loop_detection,
    toolTimeoutMs: config.tool_timeout,
  };
}
