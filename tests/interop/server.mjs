// An MCP server built on the official TypeScript SDK, serving one of its HTTP transports.
//
//   node server.mjs --transport streamable-json|streamable-sse|legacy-sse --port N
//                   [--tls-cert FILE --tls-key FILE]
//
// With --tls-cert and --tls-key it serves https:// with that certificate (PEM) and key.
//
// Streamable HTTP (spec 2025-03-26 and later) is served on /mcp, stateful: the SDK assigns
// an Mcp-Session-Id at initialize, serves the GET event stream and terminates the session
// on DELETE. streamable-json answers POSTs with application/json bodies
// (enableJsonResponse), streamable-sse with text/event-stream bodies (the SDK default).
// legacy-sse is the 2024-11-05 HTTP+SSE transport: GET /sse opens the event stream whose
// first event names the POST endpoint, /messages?sessionId=...
//
// stdout carries JSON lines: first {"port":N}, then one line per session event
// ({"event":"session_opened"|"session_closed"|"session_deleted","session_id":...}) so that
// a test can see what reached the server.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, ListRootsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const TRANSPORTS = ['streamable-json', 'streamable-sse', 'legacy-sse'];
// SSE comment frames on every open stream: capture must skip them, clients ignore them.
const KEEP_ALIVE_MS = 200;
const PROGRESS_STEPS = 3;
const PROGRESS_INTERVAL_MS = 60;

function parseArgs(argv) {
  const args = { transport: undefined, port: undefined, tlsCert: undefined, tlsKey: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--transport') args.transport = value;
    else if (flag === '--port') args.port = Number(value);
    else if (flag === '--tls-cert') args.tlsCert = value;
    else if (flag === '--tls-key') args.tlsKey = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if ((args.tlsCert === undefined) !== (args.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  if (!TRANSPORTS.includes(args.transport)) {
    throw new Error(`--transport must be one of ${TRANSPORTS.join(', ')}`);
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new Error('--port must be a port number (0 picks a free one)');
  }
  return args;
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// How a tool reaches the client while a request is in flight. On the POST's own SSE stream
// (streamable-sse) or the single legacy stream, the SDK sends messages related to the
// request. An application/json answer cannot carry them (the SDK drops them), so in
// streamable-json they go, unrelated, on the session's standalone GET stream.
function clientChannel(mcp, extra, session) {
  if (session?.jsonResponse) {
    return {
      notify: async (notification) => {
        await session.getStreamOpen();
        await mcp.server.notification(notification);
      },
      request: async (request, schema) => {
        await session.getStreamOpen();
        return mcp.server.request(request, schema);
      },
      // The answer and the notifications travel on different connections; leave the
      // notifications time to arrive first, or the client drops them as unknown.
      settle: () => sleep(250),
    };
  }
  return {
    notify: (notification) => extra.sendNotification(notification),
    request: (request, schema) => extra.sendRequest(request, schema),
    settle: () => sleep(PROGRESS_INTERVAL_MS),
  };
}

function buildServer(session) {
  const mcp = new McpServer(
    { name: 'mcptap-interop-server', version: '1.0.0' },
    { instructions: 'Test server for mcptap interop tests.' },
  );

  mcp.registerTool(
    'echo',
    { description: 'Returns its text.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  mcp.registerTool(
    'slow_progress',
    {
      description: `Reports progress ${PROGRESS_STEPS} times, ${PROGRESS_INTERVAL_MS} ms apart, then answers.`,
      inputSchema: { label: z.string() },
    },
    async ({ label }, extra) => {
      const channel = clientChannel(mcp, extra, session);
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= PROGRESS_STEPS; step += 1) {
        await sleep(PROGRESS_INTERVAL_MS);
        if (progressToken !== undefined) {
          await channel.notify({
            method: 'notifications/progress',
            params: { progressToken, progress: step, total: PROGRESS_STEPS, message: `${label} step ${step}` },
          });
        }
      }
      await channel.settle();
      return { content: [{ type: 'text', text: `${label} done after ${PROGRESS_STEPS} steps` }] };
    },
  );

  mcp.registerTool(
    'fail',
    { description: 'Always fails.', inputSchema: { reason: z.string() } },
    async ({ reason }) => {
      throw new Error(`deliberate failure: ${reason}`);
    },
  );

  // The key and the token it yields are secrets: neither may reach the capture table.
  mcp.registerTool(
    'store_secret',
    {
      description: 'Stores an API key and issues a session token.',
      inputSchema: { user: z.string(), api_key: z.string() },
      outputSchema: { user: z.string(), session_token: z.string() },
    },
    async ({ user, api_key: apiKey }) => {
      const structured = { user, session_token: `tok-${[...apiKey].reverse().join('')}` };
      return {
        content: [{ type: 'text', text: `stored a ${apiKey.length}-character key for ${user}` }],
        structuredContent: structured,
      };
    },
  );

  // A server-to-client request in the middle of a call: the client answers in a POST body.
  mcp.registerTool(
    'list_client_roots',
    { description: "Asks the client for its roots and returns their URIs.", inputSchema: {} },
    async (_args, extra) => {
      const channel = clientChannel(mcp, extra, session);
      const { roots } = await channel.request({ method: 'roots/list' }, ListRootsResultSchema);
      return { content: [{ type: 'text', text: roots.map((root) => root.uri).join(' ') }] };
    },
  );

  return mcp;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJsonError(res, status, code, message) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

// One streamable session: the SDK transport, the McpServer bound to it, and the state of
// its standalone GET stream.
class StreamableSession {
  constructor(jsonResponse, sessions) {
    this.jsonResponse = jsonResponse;
    this.getResponse = undefined;
    this.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: jsonResponse,
      keepAliveMs: KEEP_ALIVE_MS,
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, this);
        emit({ event: 'session_opened', session_id: sessionId });
      },
      onsessionclosed: (sessionId) => emit({ event: 'session_deleted', session_id: sessionId }),
    });
    this.transport.onclose = () => {
      const sessionId = this.transport.sessionId;
      if (sessionId !== undefined && sessions.delete(sessionId)) {
        emit({ event: 'session_closed', session_id: sessionId });
      }
    };
    this.mcp = buildServer(this);
  }

  // Resolves once the client's GET stream is open (its response head went out), so that a
  // message sent on it now reaches the client.
  async getStreamOpen(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.getResponse?.headersSent) {
      if (Date.now() > deadline) throw new Error('the client opened no GET event stream');
      await sleep(5);
    }
  }
}

async function handleStreamable(req, res, sessions, jsonResponse) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/mcp') {
    sendJsonError(res, 404, -32000, `no endpoint at ${url.pathname}`);
    return;
  }
  const sessionId = req.headers['mcp-session-id'];
  let session = sessionId === undefined ? undefined : sessions.get(sessionId);
  if (req.method === 'POST') {
    const text = await readBody(req);
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      sendJsonError(res, 400, -32700, 'Parse error');
      return;
    }
    if (session === undefined) {
      if (sessionId !== undefined) {
        sendJsonError(res, 404, -32001, 'Session not found');
        return;
      }
      if (!isInitializeRequest(body)) {
        sendJsonError(res, 400, -32000, 'Bad Request: no session, and not an initialize request');
        return;
      }
      session = new StreamableSession(jsonResponse, sessions);
      await session.mcp.connect(session.transport);
    }
    await session.transport.handleRequest(req, res, body);
    return;
  }
  if (session === undefined) {
    sendJsonError(res, sessionId === undefined ? 400 : 404, -32001, 'Session not found');
    return;
  }
  if (req.method === 'GET') {
    session.getResponse = res;
  }
  await session.transport.handleRequest(req, res);
}

async function handleLegacy(req, res, sessions) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const transport = new SSEServerTransport('/messages', res);
    const mcp = buildServer(undefined);
    sessions.set(transport.sessionId, transport);
    transport.onclose = () => {
      if (sessions.delete(transport.sessionId)) {
        emit({ event: 'session_closed', session_id: transport.sessionId });
      }
    };
    await mcp.connect(transport);
    emit({ event: 'session_opened', session_id: transport.sessionId });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/messages') {
    const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
    if (transport === undefined) {
      res.writeHead(404).end('unknown session');
      return;
    }
    await transport.handlePostMessage(req, res);
    return;
  }
  res.writeHead(404).end(`no endpoint at ${req.method} ${url.pathname}`);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const sessions = new Map();
  const handle =
    args.transport === 'legacy-sse'
      ? (req, res) => handleLegacy(req, res, sessions)
      : (req, res) => handleStreamable(req, res, sessions, args.transport === 'streamable-json');
  const onRequest = (req, res) => {
    handle(req, res).catch((error) => {
      process.stderr.write(`server: ${req.method} ${req.url}: ${error?.stack ?? error}\n`);
      if (!res.headersSent) sendJsonError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  };
  const server =
    args.tlsCert === undefined
      ? http.createServer(onRequest)
      : https.createServer({ cert: readFileSync(args.tlsCert), key: readFileSync(args.tlsKey) }, onRequest);
  server.listen(args.port, '127.0.0.1', () => emit({ port: server.address().port }));
  const stop = () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

try {
  main();
} catch (error) {
  process.stderr.write(`server: ${error.message}\n`);
  process.exit(2);
}
