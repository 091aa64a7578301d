// The one kafkajs internal ferry touches (request-queue-idle.ts); kafkajs ships no types for it.
declare module 'kafkajs/src/network/requestQueue/index.js' {
  /** What request-queue-idle.ts reads of a queue. */
  export interface RequestQueueState {
    pending: unknown[];
    throttledUntil: number;
    throttleCheckTimeoutId: unknown;
  }
  const RequestQueue: {
    new (options: Record<string, unknown>): RequestQueueState;
    prototype: { scheduleCheckPendingRequests: (this: RequestQueueState) => void };
  };
  export default RequestQueue;
}
