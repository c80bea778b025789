// A static file server for the built playground (playground/dist), on
// 127.0.0.1 only: `make playground` and the end-to-end test use it. No
// dependency beyond Node's own modules.
//
//   node playground/serve.mjs [DIR] [--port N]     (default: dist, 8000)

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

// Serves `root` on 127.0.0.1:`port` (0: any free port); resolves to the server.
export function serve(root, port = 8000) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad path");
      return;
    }
    if (path.endsWith("/")) path += "index.html";
    const file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error("not a file");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] || "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  const port = i >= 0 ? Number(args[i + 1]) : Number(process.env.PORT || 8000);
  const dir = args.find((a, j) => !a.startsWith("--") && (i < 0 || j !== i + 1)) ||
    join(fileURLToPath(new URL(".", import.meta.url)), "dist");
  try {
    await stat(join(dir, "index.html"));
  } catch {
    console.error(`serve: no ${join(dir, "index.html")}: build the playground first (make playground)`);
    process.exit(1);
  }
  serve(dir, port).then(
    (s) => console.log(`playground: http://127.0.0.1:${s.address().port}/ (serving ${resolve(dir)}; Ctrl+C stops)`),
    (e) => {
      console.error(`serve: cannot listen on 127.0.0.1:${port}: ${e.message}${e.code === "EADDRINUSE" ? " (set PORT=… to use another port)" : ""}`);
      process.exit(1);
    },
  );
}
