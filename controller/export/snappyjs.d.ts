// snappyjs ships no types: the two functions used here (snappy block format, as remote-write uses).
declare module 'snappyjs' {
  function compress(input: Uint8Array): Uint8Array;
  function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
  export default { compress, uncompress };
}
