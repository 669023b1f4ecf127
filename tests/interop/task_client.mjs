// An MCP client on the official TypeScript SDK that calls a tool as a task (MCP 2025-11-25),
// polls it to completion and prints what it saw as one JSON document.
//
//   node task_client.mjs --url URL
//
// URL is the base of task_server.mjs (or of mcptap in front of it); the client adds /mcp.
// The conversation: initialize, tools/list, then the task-augmented tools/call of `delay`
// through client.experimental.tasks.callToolStream (as in the SDK's
// examples/client/simpleStreamableHttp.js), which sends tasks/get until the task is
// terminal and then tasks/result; finally DELETE of the session.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

import { runMain } from './run_main.mjs';

const CLIENT_INFO = { name: 'mcptap-task-client', version: '2.5.0' };
const DELAY_MS = 1500;

function parseArgs(argv) {
  const args = { url: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--url') args.url = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

async function conversation(base) {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', base));
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  const transportErrors = [];
  client.onerror = (error) => transportErrors.push(String(error?.message ?? error));

  const out = { client: CLIENT_INFO };
  await client.connect(transport);
  out.protocol_version = transport.protocolVersion ?? null;
  out.session_id = transport.sessionId ?? null;
  out.tools = (await client.listTools()).tools.map((tool) => ({ name: tool.name, execution: tool.execution }));

  const events = [];
  const stream = client.experimental.tasks.callToolStream(
    { name: 'delay', arguments: { duration: DELAY_MS } },
    CallToolResultSchema,
    { task: { ttl: 60000 } },
  );
  for await (const message of stream) {
    if (message.type === 'taskCreated') {
      out.task_id = message.task.taskId;
      events.push({ type: 'taskCreated', status: message.task.status });
    } else if (message.type === 'taskStatus') {
      events.push({ type: 'taskStatus', status: message.task.status });
    } else if (message.type === 'result') {
      out.result = message.result;
      events.push({ type: 'result' });
    } else if (message.type === 'error') {
      throw message.error;
    }
  }
  out.events = events;

  await transport.terminateSession();
  await client.close();
  out.transport_errors = transportErrors;
  return out;
}

runMain('task_client', () => conversation(parseArgs(process.argv.slice(2)).url));
