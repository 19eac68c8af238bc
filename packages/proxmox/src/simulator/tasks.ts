import type { Clock } from '@hvkit/core';
import { TaskError } from './errors.js';
import { formatUpid } from './upid.js';

/** A task as the simulator keeps it (what `/var/log/pve/tasks` holds on a real node). */
export interface SimulatedTask {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
  status: 'running' | 'stopped';
  /** `OK`, `WARNINGS: n`, or the error text; set once stopped. */
  exitstatus?: string;
  endtime?: number;
  log: string[];
  /** Resolves when the task has stopped. */
  finished: Promise<void>;
}

/** What a task body gets: its log, a duration-sized wait, and the abort signal. */
export interface TaskContext {
  task: SimulatedTask;
  signal: AbortSignal;
  log(line: string): void;
  /** Logs a warning (counted into `WARNINGS: n`). */
  warn(line: string): void;
  /** Waits the configured task duration (or `ms`) on the simulator clock; throws when aborted. */
  work(ms?: number): Promise<void>;
}

export interface TaskManagerOptions {
  clock: Clock;
  /** Default work time of a task in ms. */
  durationMs: number;
  /** Extra delay for the next task of a type, consumed by {@link TaskManager.start}. */
  extraDelay: (type: string) => number;
  /** Warnings injected into the next task of a type. */
  injectedWarnings: (type: string) => number;
}

/** Runs simulated workers and keeps their status and log. */
export class TaskManager {
  readonly tasks = new Map<string, SimulatedTask>();
  readonly #controllers = new Map<string, AbortController>();
  #pid = 0x1000;
  readonly #pstart = new Map<string, number>();

  constructor(readonly options: TaskManagerOptions) {}

  /** Starts a worker now and returns its record (status `running`). */
  start(
    node: string,
    type: string,
    id: string,
    user: string,
    body: (context: TaskContext) => Promise<void>,
  ): SimulatedTask {
    const starttime = Math.floor(this.options.clock.now() / 1000);
    this.#pid += 1 + (this.#pid % 7);
    const pstart = (this.#pstart.get(node) ?? 0x0a00_0000) + this.tasks.size * 17;
    this.#pstart.set(node, pstart);
    let upid = formatUpid({ node, pid: this.#pid, pstart, starttime, type, id, user });
    while (this.tasks.has(upid)) {
      this.#pid += 1;
      upid = formatUpid({ node, pid: this.#pid, pstart, starttime, type, id, user });
    }
    const controller = new AbortController();
    const extra = this.options.extraDelay(type);
    const injectedWarnings = this.options.injectedWarnings(type);
    let warnings = 0;
    const task: SimulatedTask = {
      upid,
      node,
      pid: this.#pid,
      pstart,
      starttime,
      type,
      id,
      user,
      status: 'running',
      log: [],
      finished: Promise.resolve(),
    };
    const context: TaskContext = {
      task,
      signal: controller.signal,
      log: (line) => task.log.push(line),
      warn: (line) => {
        warnings++;
        task.log.push(`WARN: ${line}`);
      },
      work: async (ms) => {
        await this.options.clock.sleep(ms ?? this.options.durationMs, controller.signal);
      },
    };
    this.tasks.set(upid, task);
    this.#controllers.set(upid, controller);
    task.finished = (async () => {
      let exitstatus: string;
      try {
        if (extra > 0) await this.options.clock.sleep(extra, controller.signal);
        await body(context);
        for (let index = 0; index < injectedWarnings; index++)
          context.warn(`injected warning ${index + 1}`);
        if (controller.signal.aborted) throw new TaskError('interrupted by signal');
        exitstatus = warnings > 0 ? `WARNINGS: ${warnings}` : 'OK';
      } catch (error) {
        if (controller.signal.aborted) exitstatus = 'interrupted by signal';
        else if (error instanceof TaskError) exitstatus = error.message;
        else exitstatus = error instanceof Error ? error.message : String(error);
      }
      task.log.push(
        exitstatus === 'OK'
          ? 'TASK OK'
          : exitstatus.startsWith('WARNINGS: ')
            ? `TASK ${exitstatus}`
            : `TASK ERROR: ${exitstatus}`,
      );
      task.status = 'stopped';
      task.exitstatus = exitstatus;
      task.endtime = Math.floor(this.options.clock.now() / 1000);
      this.#controllers.delete(upid);
    })();
    return task;
  }

  /** Stops a running task (as `DELETE /nodes/{node}/tasks/{upid}`); it ends "interrupted by signal". */
  stop(upid: string): void {
    this.#controllers.get(upid)?.abort(new TaskError('interrupted by signal'));
  }

  /** Waits until every task has stopped. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.tasks.values()].filter((task) => task.status === 'running');
      if (running.length === 0) return;
      await Promise.all(running.map((task) => task.finished));
    }
  }
}
