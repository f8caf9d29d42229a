// The shipped retry policy (gen/service_config.ts, a gRPC service config generated from the protos'
// idempotency_level) applied as a Connect interceptor, since connect-node has no built-in retries. As in
// gRPC's retry design: only listed methods, only the listed codes, exponential backoff with full jitter.
// Unary calls only: a stream is never re-opened behind the caller's back (resume it from its cursor).
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { serviceConfig } from "./gen/service_config.js";

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoff: string;
  maxBackoff: string;
  backoffMultiplier: number;
  retryableStatusCodes: string[];
}

export interface ServiceConfig {
  methodConfig: { name: { service: string; method?: string }[]; retryPolicy?: RetryPolicy }[];
}

/** The service config every client applies by default. */
export const defaultServiceConfig: ServiceConfig = serviceConfig;

const seconds = (text: string): number => Number(text.replace(/s$/, ""));

// "RESOURCE_EXHAUSTED" -> Code.ResourceExhausted
function toCode(name: string): Code {
  const key = name.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code | undefined>)[key];
  if (code === undefined) throw new Error(`service config: unknown status code ${name}`);
  return code;
}

function policies(config: ServiceConfig): Map<string, { policy: RetryPolicy; codes: Set<Code> }> {
  const byMethod = new Map<string, { policy: RetryPolicy; codes: Set<Code> }>();
  for (const entry of config.methodConfig) {
    if (!entry.retryPolicy) continue;
    const codes = new Set(entry.retryPolicy.retryableStatusCodes.map(toCode));
    for (const name of entry.name) byMethod.set(`${name.service}/${name.method ?? ""}`, { policy: entry.retryPolicy, codes });
  }
  return byMethod;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => { signal.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal.reason); };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** An interceptor retrying unary calls per `config`'s retryPolicy entries. */
export function retryInterceptor(config: ServiceConfig = defaultServiceConfig): Interceptor {
  const byMethod = policies(config);
  return (next) => async (req) => {
    const found = req.stream ? undefined
      : byMethod.get(`${req.service.typeName}/${req.method.name}`) ?? byMethod.get(`${req.service.typeName}/`);
    if (!found) return next(req);
    const { policy, codes } = found;
    let backoff = seconds(policy.initialBackoff) * 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        const code = err instanceof ConnectError ? err.code : undefined;
        if (attempt >= policy.maxAttempts || code === undefined || !codes.has(code) || req.signal.aborted) throw err;
        await sleep(Math.random() * backoff, req.signal);
        backoff = Math.min(backoff * policy.backoffMultiplier, seconds(policy.maxBackoff) * 1000);
      }
    }
  };
}
