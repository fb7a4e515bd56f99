#!/usr/bin/env python3
"""A TCP forwarder on 127.0.0.1 that a scenario uses to cut a link.

  proxy.py --listen PORT --target PORT

Forwards every connection to 127.0.0.1:TARGET, both ways. Signals:
  SIGUSR1  cut: every open connection is reset (RST on both sides) and new
           ones are reset as soon as they are accepted, until SIGUSR2;
  SIGUSR2  heal: forward again;
  SIGSTOP / SIGCONT (sent by the scenario) stall and resume the forwarder
           itself: nothing moves, bytes wait in kernel buffers and new
           connections in the listen backlog, as during a partition that
           TCP rides out by retransmitting.
Prints "forwarding 127.0.0.1:LISTEN -> 127.0.0.1:TARGET" once listening.
"""
import argparse, asyncio, signal, socket, struct, sys

ap = argparse.ArgumentParser()
ap.add_argument("--listen", type=int, required=True)
ap.add_argument("--target", type=int, required=True)
args = ap.parse_args()

cut = False
conns = set()


def reset(writer):
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def handle(cr, cw):
    if cut:
        reset(cw)
        return
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", args.target)
    except OSError:
        reset(cw)
        return
    pair = (cw, uw)
    conns.add(pair)
    try:
        await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
    finally:
        conns.discard(pair)


def on_cut():
    global cut
    cut = True
    for cw, uw in list(conns):
        reset(cw)
        reset(uw)
    conns.clear()
    print("cut", flush=True)


def on_heal():
    global cut
    cut = False
    print("healed", flush=True)


async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", args.listen,
                                     reuse_address=True, backlog=128)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, on_cut)
    loop.add_signal_handler(signal.SIGUSR2, on_heal)
    print("forwarding 127.0.0.1:%d -> 127.0.0.1:%d" % (
        args.listen, args.target), flush=True)
    async with srv:
        await srv.serve_forever()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(0)
