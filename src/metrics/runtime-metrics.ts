import { Counter, Histogram, type Metric } from 'prom-client';
import { runtimeOperationBuckets } from './buckets.ts';

/** What the instrumented runtime reports for each call: its operation, how long, whether it failed. */
export interface RuntimeOperationRecorder {
  record(operationType: string, seconds: number, failed: boolean): void;
}

/**
 * kubelet_runtime_operations_total, _duration_seconds and _errors_total, with kubelet's names,
 * help, labels and buckets. The label set is bounded: one operation_type per Runtime method.
 */
export class RuntimeMetrics implements RuntimeOperationRecorder {
  private readonly total = new Counter({ name: 'kubelet_runtime_operations_total', help: 'Cumulative number of runtime operations by operation type.', labelNames: ['operation_type'], registers: [] });
  private readonly duration = new Histogram({
    name: 'kubelet_runtime_operations_duration_seconds',
    help: 'Duration in seconds of runtime operations. Broken down by operation type.',
    labelNames: ['operation_type'],
    buckets: runtimeOperationBuckets,
    registers: [],
  });
  private readonly errors = new Counter({ name: 'kubelet_runtime_operations_errors_total', help: 'Cumulative number of runtime operation errors by operation type.', labelNames: ['operation_type'], registers: [] });

  record(operationType: string, seconds: number, failed: boolean): void {
    const labels = { operation_type: operationType };
    this.total.inc(labels);
    this.duration.observe(labels, seconds);
    if (failed) this.errors.inc(labels);
  }

  metrics(): Metric[] {
    return [this.total, this.duration, this.errors];
  }
}
