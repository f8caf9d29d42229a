// Reading the gateway's rich errors. Every failed call carries a google.rpc.Status whose details hold one
// ErrorInfo (domain taskrouter.twilio.com; Twilio's code in metadata.twilio_code), a BadRequest naming each
// bad field for INVALID_ARGUMENT, and a RetryInfo when the caller should wait.
import { ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
  type BadRequest,
  type ErrorInfo,
} from "./gen/google/rpc/error_details_pb.js";

export interface ErrorDetails {
  /** The ErrorInfo; undefined only if the error did not come from the gateway. */
  errorInfo: ErrorInfo | undefined;
  /** One field violation per bad field (INVALID_ARGUMENT). */
  badRequest: BadRequest | undefined;
  /** How long to wait before retrying, in milliseconds, when the gateway said so. */
  retryDelayMs: number | undefined;
}

/** Decodes the details of any error thrown by a gateway client (a ConnectError, or anything else). */
export function errorDetails(err: unknown): ErrorDetails {
  const error = ConnectError.from(err);
  const [errorInfo] = error.findDetails(ErrorInfoSchema);
  const [badRequest] = error.findDetails(BadRequestSchema);
  const [retry] = error.findDetails(RetryInfoSchema);
  const delay = retry?.retryDelay;
  const retryDelayMs = delay ? Number(delay.seconds) * 1000 + delay.nanos / 1e6 : undefined;
  return { errorInfo, badRequest, retryDelayMs };
}
