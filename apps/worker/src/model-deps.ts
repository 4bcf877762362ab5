
import { createModelBreakers, createModelClient, type ModelDeps } from '@agentyard/agent';
import type { Config, TenantPolicies } from '@agentyard/config';
import { Gauge, type Logger, type Registry } from '@agentyard/observability';
import type { TokenBudget } from '@agentyard/runs';

export type ModelConfig = Pick<
  Config,
  'LLM_BASE_URL' | 'LLM_API_KEY' | 'LLM_MODEL' | 'LLM_TIMEOUT_S' | 'LLM_MAX_COMPLETION_TOKENS' | 'LLM_BREAKER_FAILURES' | 'LLM_BREAKER_RESET_S'
>;

const STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * The model planner's dependencies, or undefined when no endpoint is configured (prompt
 * runs then fail with model_not_configured). The breaker's state is a gauge per
 * endpoint (0 closed, 1 half-open, 2 open) and is logged on every change.
 */
export function createModelDeps(
  config: ModelConfig,
  opts: { registry: Registry; logger: Logger; tokens: TokenBudget; policies: TenantPolicies },
): ModelDeps | undefined {
  if (!config.LLM_BASE_URL) return undefined;
  const gauge = new Gauge({
    name: 'agentyard_model_breaker_state',
    help: 'Circuit breaker of a model endpoint: 0 closed, 1 half-open, 2 open',
    labelNames: ['endpoint'] as const,
    registers: [opts.registry],
  });
  const breakers = createModelBreakers({
    failures: config.LLM_BREAKER_FAILURES,
    resetMs: config.LLM_BREAKER_RESET_S * 1000,
    onStateChange: (endpoint, state) => {
      gauge.set({ endpoint }, STATE_VALUE[state]);
      opts.logger.warn({ endpoint, state }, 'model endpoint circuit breaker changed state');
    },
  });
  gauge.set({ endpoint: config.LLM_BASE_URL }, 0);
  return {
    client: createModelClient({
      baseUrl: config.LLM_BASE_URL,
      ...(config.LLM_API_KEY ? { apiKey: config.LLM_API_KEY } : {}),
      timeoutMs: config.LLM_TIMEOUT_S * 1000,
    }),
    breakers,
    defaultModel: config.LLM_MODEL ?? 'default',
    maxCompletionTokens: config.LLM_MAX_COMPLETION_TOKENS,
    timeoutS: config.LLM_TIMEOUT_S,
    budget: { tokens: opts.tokens, dailyLimit: (tenant) => opts.policies.get(tenant).daily_tokens },
  };
}
