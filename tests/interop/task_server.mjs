// An MCP server on the official TypeScript SDK whose one tool runs as a task (MCP 2025-11-25
// tasks): a task-augmented tools/call is answered at once with a CreateTaskResult, and the
// client polls tasks/get until the task completes, then fetches it with tasks/result.
//
//   node task_server.mjs --port N
//
// Streamable HTTP on /mcp, stateful (the SDK assigns an Mcp-Session-Id at initialize), tasks
// kept in the SDK's InMemoryTaskStore, as in the SDK's examples/server/simpleStreamableHttp.js.
// The tool `delay` completes after `duration` ms; its task asks to be polled every
// POLL_INTERVAL_MS so that a short delay still gives several tasks/get round trips.
//
// stdout carries JSON lines: first {"port":N}, then {"event":"task_created","task_id":...}
// once per task, so that a test knows what the server created.
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const POLL_INTERVAL_MS = 200;

function parseArgs(argv) {
  const args = { port: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--port') args.port = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new Error('--port must be a port number (0 picks a free one)');
  }
  return args;
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function buildServer(taskStore) {
  const mcp = new McpServer(
    { name: 'mcptap-task-server', version: '1.0.0' },
    { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore },
  );
  mcp.experimental.tasks.registerToolTask(
    'delay',
    {
      title: 'Delay',
      description: 'Completes after the given number of milliseconds, as a task.',
      inputSchema: { duration: z.number().describe('Duration in milliseconds') },
    },
    {
      async createTask({ duration }, { taskStore: store, taskRequestedTtl }) {
        const task = await store.createTask({ ttl: taskRequestedTtl, pollInterval: POLL_INTERVAL_MS });
        emit({ event: 'task_created', task_id: task.taskId });
        setTimeout(() => {
          store
            .storeTaskResult(task.taskId, 'completed', {
              content: [{ type: 'text', text: `Completed ${duration}ms delay` }],
            })
            .catch((error) => process.stderr.write(`server: storeTaskResult: ${error}\n`));
        }, duration);
        return { task };
      },
      async getTask(_args, { taskId, taskStore: store }) {
        return store.getTask(taskId);
      },
      async getTaskResult(_args, { taskId, taskStore: store }) {
        return store.getTaskResult(taskId);
      },
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

async function handle(req, res, sessions, taskStore) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/mcp') {
    sendJsonError(res, 404, -32000, `no endpoint at ${url.pathname}`);
    return;
  }
  const sessionId = req.headers['mcp-session-id'];
  let transport = sessionId === undefined ? undefined : sessions.get(sessionId);
  if (req.method === 'POST') {
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      sendJsonError(res, 400, -32700, 'Parse error');
      return;
    }
    if (transport === undefined) {
      if (sessionId !== undefined || !isInitializeRequest(body)) {
        sendJsonError(res, sessionId === undefined ? 400 : 404, -32001, 'Session not found');
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await buildServer(taskStore).connect(transport);
    }
    await transport.handleRequest(req, res, body);
    return;
  }
  if (transport === undefined) {
    sendJsonError(res, sessionId === undefined ? 400 : 404, -32001, 'Session not found');
    return;
  }
  await transport.handleRequest(req, res);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const sessions = new Map();
  const taskStore = new InMemoryTaskStore();
  const server = http.createServer((req, res) => {
    handle(req, res, sessions, taskStore).catch((error) => {
      process.stderr.write(`server: ${req.method} ${req.url}: ${error?.stack ?? error}\n`);
      if (!res.headersSent) sendJsonError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  });
  server.listen(args.port, '127.0.0.1', () => emit({ port: server.address().port }));
  const stop = () => {
    taskStore.cleanup?.();
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
