// An MCP client built on the official TypeScript SDK, running one fixed conversation with the
// reference server @modelcontextprotocol/server-everything, and printing as one JSON document
// what it got back and every JSON-RPC message it sent and received on its transport.
//
//   node everything_client.mjs --url http://host:port           Streamable HTTP (adds /mcp)
//   node everything_client.mjs --stdio -- COMMAND [ARG...]       stdio: spawns COMMAND
//
// The conversation (the client's ids count from 0):
//   initialize #0, notifications/initialized, tools/list #1,
//   tools/call #2 echo, #3 get-sum, #4 trigger-long-running-operation with a progressToken
//   (3 notifications/progress), #5 get-sum with a string argument (a result with isError:
//   input validation), #6 a tool the server does not have (a result with isError),
//   #7 trigger-url-elicitation with errorPath (a JSON-RPC error, -32042).
// Because the client announces roots, the server asks roots/list on its own about 350 ms
// after notifications/initialized and then logs a notifications/message; it also announces
// the tools it registers once it knows the client's capabilities (notifications/tools/
// list_changed). The client waits for those before it ends, so that every message that
// crossed the wire is one the client has seen.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { runMain } from './run_main.mjs';

const ROOT = { uri: 'file:///srv/everything', name: 'everything' };
const QUIET_MS = 300; // no message for this long after the last expected one: the run is over
const SERVER_INITIATED_TIMEOUT_MS = 10_000;

function parseArgs(argv) {
  const args = { url: undefined, command: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--url') {
      args.url = argv[++i];
    } else if (argv[i] === '--stdio') {
      if (argv[i + 1] !== '--' || argv.length < i + 3) throw new Error('--stdio needs -- COMMAND [ARG...]');
      args.command = argv.slice(i + 2);
      break;
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.url === !args.command) throw new Error('give either --url URL or --stdio -- COMMAND [ARG...]');
  return args;
}

function makeTransport(args) {
  if (args.command) {
    const [command, ...rest] = args.command;
    return new StdioClientTransport({ command, args: rest, env: { ...process.env }, stderr: 'inherit' });
  }
  return new StreamableHTTPClientTransport(new URL('/mcp', args.url), {
    // A dropped GET stream would be retried; none is expected, keep a retry visible but short.
    reconnectionOptions: {
      initialReconnectionDelay: 100,
      maxReconnectionDelay: 500,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 2,
    },
  });
}

// Every JSON-RPC message the transport carries, as the capture table would name it:
// direction, kind, the id as JSON text, and the method (a reply takes its request's).
class WireLog {
  constructor() {
    this.messages = [];
    this.pending = new Map(); // `${direction of the request}:${id}` -> method
    this.lastAt = Date.now();
  }

  record(direction, message) {
    this.lastAt = Date.now();
    const id = 'id' in message && message.id !== undefined ? JSON.stringify(message.id) : null;
    let kind;
    let method = message.method ?? null;
    if (method !== null) {
      kind = id === null ? 'notification' : 'request';
      if (kind === 'request') this.pending.set(`${direction}:${id}`, method);
    } else {
      kind = 'error' in message ? 'error' : 'response';
      const requestDirection = direction === 'client_to_server' ? 'server_to_client' : 'client_to_server';
      method = this.pending.get(`${requestDirection}:${id}`) ?? null;
    }
    this.messages.push({ direction, kind, jsonrpc_id: id, method });
  }

  // Wraps send and whatever onmessage the SDK installs, before the client connects.
  attach(transport) {
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      this.record('client_to_server', message);
      return send(message, options);
    };
    let handler = transport.onmessage;
    Object.defineProperty(transport, 'onmessage', {
      configurable: true,
      get: () => handler && ((message, extra) => {
        this.record('server_to_client', message);
        return handler(message, extra);
      }),
      set: (value) => {
        handler = value;
      },
    });
  }

  has(direction, kind, method) {
    return this.messages.some((m) => m.direction === direction && m.kind === kind && m.method === method);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function errorSummary(error) {
  return { code: error?.code ?? null, message: String(error?.message ?? error) };
}

async function conversation(args) {
  const transport = makeTransport(args);
  const wire = new WireLog();
  wire.attach(transport);
  const transportErrors = [];
  const client = new Client(
    { name: 'mcptap-everything-client', version: '1.0.0' },
    { capabilities: { roots: { listChanged: false }, elicitation: { url: {} } } },
  );
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [ROOT] }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  client.onerror = (error) => transportErrors.push(String(error?.message ?? error));

  const out = {};
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.session_id = transport.sessionId ?? null;
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = await client.callTool({ name: 'echo', arguments: { message: 'hello through the tap' } });
  out.sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
  const progress = [];
  const slow = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  out.long_running = { result: slow, progress };
  out.invalid_arguments = await client.callTool({ name: 'get-sum', arguments: { a: 'two', b: 40 } });
  out.unknown_tool = await client.callTool({ name: 'no-such-tool', arguments: {} });
  try {
    out.url_elicitation = { result: await client.callTool({
      name: 'trigger-url-elicitation',
      arguments: { url: 'https://example.com/authorize', errorPath: true },
    }) };
  } catch (error) {
    out.url_elicitation = { error: errorSummary(error) };
  }

  // What the server sends on its own: roots/list (answered by the handler above), then the
  // log line saying the roots arrived. Then nothing more should come.
  out.server_initiated_seen = await waitFor(
    () => wire.has('client_to_server', 'response', 'roots/list') &&
          wire.has('server_to_client', 'notification', 'notifications/message'),
    SERVER_INITIATED_TIMEOUT_MS);
  await waitFor(() => Date.now() - wire.lastAt >= QUIET_MS, SERVER_INITIATED_TIMEOUT_MS);

  if (args.url) {
    await transport.terminateSession(); // DELETE with Mcp-Session-Id: not a JSON-RPC message
    out.terminated = transport.sessionId === undefined;
  }
  await client.close();
  out.transport_errors = transportErrors;
  out.messages = wire.messages;
  return out;
}

runMain('everything_client', () => conversation(parseArgs(process.argv.slice(2))));
