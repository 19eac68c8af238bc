/**
 * An error the simulated server answers with. `preHandler` errors (auth, 501 no formatter) go
 * out without a content type and with the plain message as the body, as pve-http-server ≥ 5.2
 * does; handler errors carry the JSON envelope `{"data":null[,"errors"],"message"}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: { errors?: Record<string, string>; preHandler?: boolean } = {},
  ) {
    super(message);
  }
}

/** A `die "...\n"` inside a handler: HTTP 500 with the message as reason phrase. */
export function die(message: string): ApiError {
  return new ApiError(500, message);
}

/** PVE::Exception::raise_param_exc: HTTP 400 "Parameter verification failed." with `errors`. */
export function parameterError(errors: Record<string, string>): ApiError {
  return new ApiError(400, 'Parameter verification failed.', { errors });
}

/** A failure inside a task worker: the task ends with this text as its exit status. */
export class TaskError extends Error {}

/** The error of a missing VM config (PVE::QemuConfig::load_config). */
export function noSuchVm(node: string, vmid: number): ApiError {
  return die(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
}

/** The flock timeout PVE::Tools::lock_file reports after 10 s. */
export function lockTimeoutMessage(vmid: number): string {
  return `can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`;
}
