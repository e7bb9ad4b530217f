/**
 * Raw-TCP ceiling, receiving side: listens on 127.0.0.1, tells its parent the port over IPC,
 * and for each connection counts bytes until the expected total has arrived, then answers one
 * byte so the sender can stop its clock. A second port does the same but keeps the bytes, copying
 * them into a new SharedArrayBuffer as they come (what a worker receiving a value does: the
 * first touch of fresh memory is the cost here). A third port echoes every byte back (the
 * round-trip floor). Exits when its parent goes away.
 */
import net from "node:net";

const expected = Number(process.argv[2]);
const receive = (keep: boolean) => (socket: net.Socket) => {
  let got = 0;
  const kept = keep ? new Uint8Array(new SharedArrayBuffer(expected)) : undefined;
  socket.on("data", (chunk) => {
    kept?.set(chunk.subarray(0, Math.max(0, Math.min(chunk.length, expected - got))), got);
    got += chunk.length;
    if (got >= expected) socket.end(Buffer.of(got === expected ? 1 : 0));
  });
  socket.on("error", () => socket.destroy());
};
const server = net.createServer(receive(false));
const keeper = net.createServer(receive(true));
const echo = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
server.listen(0, "127.0.0.1", () =>
  keeper.listen(0, "127.0.0.1", () =>
    echo.listen(0, "127.0.0.1", () => process.send!({ port: portOf(server), keepPort: portOf(keeper), echoPort: portOf(echo) })),
  ),
);
process.on("disconnect", () => process.exit(0));
