// Loaded with `node --import ./polyfill.mjs ...` before any libp2p module.
// Node 20 lacks Promise.withResolvers (Node 22 has it); it-queue, mortice
// and @libp2p/ping call it. Defined only when missing.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
