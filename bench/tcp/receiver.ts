/**
 * Raw-TCP ceiling, receiving side: listens on 127.0.0.1, tells its parent the port over IPC,
 * and for each connection counts bytes until the expected total has arrived, then answers one
 * byte so the sender can stop its clock. A second port echoes every byte back (the round-trip
 * floor). Exits when its parent goes away.
 */
import net from "node:net";

const expected = Number(process.argv[2]);
const server = net.createServer((socket) => {
  let got = 0;
  socket.on("data", (chunk) => {
    got += chunk.length;
    if (got >= expected) socket.end(Buffer.of(got === expected ? 1 : 0));
  });
  socket.on("error", () => socket.destroy());
});
const echo = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
server.listen(0, "127.0.0.1", () => echo.listen(0, "127.0.0.1", () => process.send!({ port: portOf(server), echoPort: portOf(echo) })));
process.on("disconnect", () => process.exit(0));
