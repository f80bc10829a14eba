/** `cluster-key-slot` (the CRC16 slot function ioredis routes by) ships no types. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key or shard channel, honouring `{hash tags}`. */
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
