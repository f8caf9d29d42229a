// @taskrouter-gateway/client: the hand-written entry point. Generated messages and services are under
// "@taskrouter-gateway/client/v1/<file>_pb" (e.g. v1/worker_service_pb) and "/google/rpc/error_details_pb".
export {
  createGatewayClient,
  createGatewayTransport,
  type GatewayOptions,
  type GatewayTransport,
} from "./client.js";
export { errorDetails, type ErrorDetails } from "./errors.js";
export { defaultServiceConfig, retryInterceptor, type RetryPolicy, type ServiceConfig } from "./retry.js";
export { openWhenSubscribed } from "./stream.js";
