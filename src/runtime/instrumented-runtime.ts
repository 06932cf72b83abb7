import { operationType } from '../metrics/operation-type.ts';
import type { RuntimeOperationRecorder } from '../metrics/runtime-metrics.ts';
import type { Runtime } from './types.ts';

/** Not a runtime operation: shutting the client down. */
const untimed = new Set(['close', 'constructor']);

/**
 * The Runtime with every method call timed and counted (kubelet's instrumentedRuntimeService).
 * A Proxy rather than a class that lists the methods: a method added to the Runtime interface
 * later is forwarded and timed as it is, under operationType's name for it. A call that returns
 * a promise is timed until it settles, and counts as an error when it rejects; a call that throws
 * at once counts the same. Properties that are not functions pass through untouched, and an
 * optional method the backend lacks stays undefined (callers test `runtime.collectNetwork?.()`).
 */
export function instrumentRuntime<R extends Runtime>(runtime: R, recorder: RuntimeOperationRecorder, now: () => number = () => performance.now()): R {
  // By the method itself, so a method replaced on the object (tests do) is not served stale.
  const wrapped = new WeakMap<object, unknown>();
  return new Proxy(runtime, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property === 'symbol' || untimed.has(property)) return value;
      const method = value as (...args: unknown[]) => unknown;
      const cached = wrapped.get(method);
      if (cached) return cached;
      const operation = operationType(property);
      const timed = function (this: unknown, ...args: unknown[]): unknown {
        const started = now();
        const done = (failed: boolean): void => recorder.record(operation, Math.max(0, now() - started) / 1000, failed);
        let result: unknown;
        try {
          // The backend's own `this`: its private fields are not reachable through the Proxy.
          result = method.apply(target, args);
        } catch (err) {
          done(true);
          throw err;
        }
        if (result instanceof Promise) {
          return result.then(
            (v: unknown) => {
              done(false);
              return v;
            },
            (err: unknown) => {
              done(true);
              throw err;
            },
          );
        }
        done(false);
        return result;
      };
      wrapped.set(method, timed);
      return timed;
    },
  });
}
