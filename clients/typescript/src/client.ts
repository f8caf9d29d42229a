// A Connect client over the gRPC protocol (HTTP/2), with the shipped retry policy and an optional bearer token.
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { retryInterceptor, type ServiceConfig } from "./retry.js";

export interface GatewayOptions {
  /** "127.0.0.1:50051" (plaintext) or a URL: "http://host:port", or "https://host:port" for TLS. */
  address: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** PEM root certificates to trust for TLS, instead of Node's defaults. */
  ca?: string | Buffer;
  /** The retry policy; default: the shipped service config. `false` turns retries off. */
  retry?: ServiceConfig | false;
  /** More interceptors, run inside the retry and token interceptors. */
  interceptors?: Interceptor[];
}

function baseUrl(address: string): string {
  return /^https?:\/\//.test(address) ? address : `http://${address}`;
}

/** A Transport that can also close its HTTP/2 session (an open session keeps Node's event loop alive). */
export interface GatewayTransport extends Transport {
  close(): void;
}

/** A gRPC transport to the gateway; share one per process (it holds the HTTP/2 session). */
export function createGatewayTransport(options: GatewayOptions): GatewayTransport {
  const interceptors: Interceptor[] = [];
  if (options.retry !== false) interceptors.push(retryInterceptor(options.retry));
  const token = options.token;
  if (token) {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  interceptors.push(...(options.interceptors ?? []));
  const url = baseUrl(options.address);
  const sessionManager = new Http2SessionManager(url, {}, options.ca ? { ca: options.ca } : undefined);
  const transport = createGrpcTransport({ baseUrl: url, interceptors, sessionManager });
  return Object.assign(transport, { close: () => sessionManager.abort() });
}

/** A typed client for one service, e.g. `createGatewayClient(WorkerService, transport)`. */
export function createGatewayClient<S extends DescService>(service: S, transport: Transport): Client<S> {
  return createClient(service, transport);
}
