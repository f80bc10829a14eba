/** Where a namespace's log stands: the last seq given out, in which epoch. */
export interface ReplayHead {
  seq: number;
  /**
   * Changes whenever the sequence starts over (log lost: Redis flushed or restarted, process
   * restarted, expired). `''` when the namespace has no log yet (it never broadcast): its first
   * broadcast starts an epoch at seq 1.
   */
  epoch: string;
}
