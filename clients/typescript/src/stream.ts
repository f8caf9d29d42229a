// Waiting for "subscribed". StreamEvents sends its response headers as soon as the gateway has registered
// the subscription; every event committed after that reaches the stream. Connect reports the headers
// through onHeader once the first message is asked for, so ask for it now and resolve on the headers.
import type { CallOptions } from "@connectrpc/connect";

/**
 * Starts a server stream and resolves once its headers have arrived (or rejects if the call fails first).
 * `start` receives the call options to pass on, e.g. `(o) => client.streamEvents(request, o)`.
 */
export async function openWhenSubscribed<T>(
  start: (options: CallOptions) => AsyncIterable<T>,
  options: CallOptions = {},
): Promise<AsyncIterableIterator<T>> {
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => { subscribed = resolve; });
  const iterator = start({
    ...options,
    onHeader(headers) { options.onHeader?.(headers); subscribed(); },
  })[Symbol.asyncIterator]();
  let first: Promise<IteratorResult<T>> | undefined = iterator.next();
  first.catch(() => undefined); // a failure is reported by whoever awaits it, not as an unhandled rejection
  await Promise.race([ready, first]);
  const stream: AsyncIterableIterator<T> = {
    next() {
      const pending = first;
      first = undefined;
      return pending ?? iterator.next();
    },
    async return(value?: unknown) {
      first = undefined;
      return (await iterator.return?.(value)) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() { return stream; },
  };
  return stream;
}
