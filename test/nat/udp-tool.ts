// Tiny UDP helper for the NAT harness self-tests. One socket, JSON lines out.
//
//   bun udp-tool.ts [--port P] [--echo]
//
// stdout: {"event":"bound","port":P}
//         {"event":"recv","from":"ip:port","data":"...","json":{...}?}   per datagram
//         {"event":"burst-done","tag":T,"sent":N,"replies":R}
// --echo: answers every datagram with {"observed":"<sender ip:port>","data":"<payload>"}.
// stdin commands (one per line):
//   send <ip:port> <data>           send one datagram
//   burst <ip:port> <count> <tag>   send <count> datagrams "<tag>:<i>" (paced), then
//                                   "<tag>:fin" every 50 ms until the echo of it returns
const args = process.argv.slice(2);
const portArg = args.indexOf("--port");
const port = portArg >= 0 ? Number(args[portArg + 1]) : 0;
const echo = args.includes("--echo");

const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const split = (addr: string) => {
  const i = addr.lastIndexOf(":");
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
};

const replyCounts = new Map<string, number>();
const finWaiters = new Map<string, () => void>();

const sock = await Bun.udpSocket({
  hostname: "0.0.0.0",
  port,
  socket: {
    data(s, buf, rport, raddr) {
      const from = `${raddr}:${rport}`;
      const data = buf.toString();
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch {}
      out(json !== undefined ? { event: "recv", from, data, json } : { event: "recv", from, data });
      if (echo) s.send(JSON.stringify({ observed: from, data }), rport, raddr);
      // Bookkeeping for bursts: count echoed burst packets, detect the echoed fin.
      const echoed = (json as { data?: unknown } | undefined)?.data;
      if (typeof echoed === "string") {
        const [tag, seq] = [echoed.slice(0, echoed.lastIndexOf(":")), echoed.slice(echoed.lastIndexOf(":") + 1)];
        if (seq === "fin") finWaiters.get(tag)?.();
        else replyCounts.set(tag, (replyCounts.get(tag) ?? 0) + 1);
      }
    },
    error(_s, err) {
      out({ event: "socket-error", message: String(err?.message ?? err) });
    },
  },
});
out({ event: "bound", port: sock.port });

async function send(to: string, data: string): Promise<void> {
  const { host, port } = split(to);
  sock.send(data, port, host);
}

async function burst(to: string, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    await send(to, `${tag}:${i}`);
    if (i % 10 === 9) await Bun.sleep(2); // pacing so no socket buffer overflows
  }
  const finEchoed = new Promise<void>((resolve) => finWaiters.set(tag, resolve));
  let done = false;
  finEchoed.then(() => {
    done = true;
  });
  for (let tries = 0; !done && tries < 200; tries++) {
    await send(to, `${tag}:fin`);
    await Promise.race([finEchoed, Bun.sleep(50)]);
  }
  out({ event: "burst-done", tag, sent: count, replies: replyCounts.get(tag) ?? 0, finEchoed: done });
}

for await (const line of console) {
  const [cmd, to, ...rest] = line.trim().split(" ");
  if (cmd === "send" && to) await send(to, rest.join(" "));
  else if (cmd === "burst" && to) await burst(to, Number(rest[0]), rest[1] ?? "b");
  else if (cmd === "quit") break;
  else if (cmd) out({ event: "error", message: `unknown command: ${line}` });
}
sock.close();
