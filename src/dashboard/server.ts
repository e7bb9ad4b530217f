/**
 * The scheduler's HTTP endpoint: the live page (`/status`), its data (`/api/snapshot`, pushed
 * once a second on `/api/events` as Server-Sent Events), `/metrics` for Prometheus and
 * `/health`. Read-only: nothing here changes the cluster. Nothing is computed while nobody
 * watches: snapshots are made only for connected pages, and the task stream is recorded only
 * while a page is open.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, describeError } from "../errors.js";
import { parseDashboardAddress } from "./address.js";
import { logger } from "../log.js";
import type { SchedulerStateView, SchedulerView } from "../scheduler/extension.js";
import { Metrics } from "./metrics.js";
import { PAGE } from "./page.js";
import { TaskStream, snapshot } from "./snapshot.js";

const log = () => logger("dashboard");
const PUSH_MS = 1000;
const STREAM_WINDOW_MS = 10_000;
/** Task-stream entries per push at most: pages keep their own 10 s window from the pushes. */
const STREAM_PER_PUSH = 1000;

export { parseDashboardAddress } from "./address.js";

export interface DashboardSource {
  state: SchedulerStateView;
  address: string;
  /** "why pending?" (scheduler/pending.ts): the page's pending jobs and their reasons */
  whyPending?: SchedulerView["whyPending"];
}

export class Dashboard {
  readonly url: string;
  #server: http.Server;
  #source: DashboardSource;
  #metrics: Metrics;
  #stream = new TaskStream();
  #watchers = new Set<http.ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  /** When the last push to pages was made: each push carries the stream entries since. */
  #pushedAt = 0;

  private constructor(server: http.Server, url: string, source: DashboardSource) {
    this.#server = server;
    this.url = url;
    this.#source = source;
    this.#metrics = new Metrics(source.state);
  }

  /**
   * Listen on `address` (host "" = `bindHost`); if its port is taken, on a free one, with a
   * warning. The URL names `advertiseHost`.
   */
  static async start(source: DashboardSource, address: string, bindHost: string, advertiseHost: string): Promise<Dashboard> {
    const { host, port } = parseDashboardAddress(address);
    const bind = host || bindHost;
    let dashboard: Dashboard | undefined;
    const server = http.createServer((req, res) => dashboard!.#handle(req, res));
    // the dashboard keeps no process alive (nor does an open page): its scheduler does while it runs
    server.unref();
    server.on("connection", (socket) => socket.unref());
    const listen = (p: number) =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(p, bind, () => {
          server.off("error", reject);
          resolve();
        });
      });
    try {
      await listen(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || port === 0) {
        throw new ConfigError(`the dashboard cannot listen on ${bind}:${port}: ${describeError(err)}`);
      }
      await listen(0);
      log().warn({ wanted: port, port: (server.address() as AddressInfo).port }, "dashboard port is taken; listening on another one");
    }
    const actual = (server.address() as AddressInfo).port;
    const shown = host && host !== "0.0.0.0" && host !== "::" ? host : advertiseHost;
    dashboard = new Dashboard(server, `http://${shown.includes(":") ? `[${shown}]` : shown}:${actual}/status`, source);
    return dashboard;
  }

  /** Someone has the page open: finished tasks are worth recording for its task stream. */
  get watched(): boolean {
    return this.#watchers.size > 0;
  }

  taskFinished(key: string, worker: string, durationS: number, now: number): void {
    const group = this.#source.state.prefixOf(key);
    this.#stream.record({ group, worker, start: now - Math.max(0, durationS) * 1000, stop: now });
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#metrics.close();
    for (const w of this.#watchers) w.end();
    this.#watchers.clear();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** The state, with the task stream of the last 10 s (or, for pushes, since the last push). */
  #snapshot(since?: number) {
    const now = Date.now();
    return snapshot(this.#source.state, now, this.#stream.since(since ?? now - STREAM_WINDOW_MS, STREAM_PER_PUSH));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "only GET\n");
    switch (path) {
      case "/":
        res.writeHead(302, { location: "/status" }).end();
        return;
      case "/status":
        return send(res, 200, "text/html; charset=utf-8", PAGE);
      case "/health":
        return send(res, 200, "text/plain", "ok\n");
      case "/api/info":
        return send(res, 200, "application/json", JSON.stringify({ address: this.#source.address, dashboard: this.url }));
      case "/api/pending":
        // what the job queue says about pending jobs (a queue command: asked on request, not every push)
        if (!this.#source.whyPending) return send(res, 200, "application/json", JSON.stringify({ state: "idle", scheduler: [], answer: [] }));
        this.#source.whyPending().then(
          (w) => send(res, 200, "application/json", JSON.stringify(w)),
          (err) => send(res, 500, "text/plain", `why pending failed: ${describeError(err)}\n`),
        );
        return;
      case "/api/snapshot":
        return send(res, 200, "application/json", JSON.stringify(this.#snapshot()));
      case "/api/events":
        return this.#subscribe(res);
      case "/metrics":
        this.#metrics.text().then(
          ({ body, contentType }) => send(res, 200, contentType, body),
          (err) => send(res, 500, "text/plain", `metrics failed: ${describeError(err)}\n`),
        );
        return;
      default:
        return send(res, 404, "text/plain", `no page ${path}\n`);
    }
  }

  #subscribe(res: http.ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    this.#watchers.add(res);
    res.on("close", () => {
      this.#watchers.delete(res);
      if (!this.#watchers.size) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#stream.clear();
      }
    });
    // a new page gets the last 10 s; every page then gets what happened since the last push
    res.write(`data: ${JSON.stringify(this.#snapshot())}\n\n`);
    this.#timer ??= setInterval(() => {
      const since = this.#pushedAt;
      this.#pushedAt = Date.now();
      const data = `data: ${JSON.stringify(this.#snapshot(since))}\n\n`;
      for (const w of this.#watchers) w.write(data);
    }, PUSH_MS).unref();
    if (this.#watchers.size === 1) this.#pushedAt = Date.now();
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) }).end(body);
}
