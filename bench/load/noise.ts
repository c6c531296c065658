/**
 * The machine's noise floor: an idle Node process measuring its own event-loop delay the same
 * way the controller does (monitorEventLoopDelay, 10 ms resolution). On a shared 2-core machine a
 * process that is simply not scheduled shows delay too; this says how much of the controller's
 * figure is the machine, not the controller. Answers {maxMs, p99Ms} to any IPC message, then resets.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
process.on('message', () => {
  process.send!({ maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6 });
  h.reset();
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), 3600_000).unref();
