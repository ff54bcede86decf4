import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { JSON_EVENT_FIELDS, jsonCodec } from '../../lib/codec/json-codec';
import { jsonFieldsOf, jsonInputLines } from '../../lib/codec/json-commands';
import { CHAT_EVENT_TYPES, type ChatEvent, type ChatEventType } from '../../lib/core/events';
import { COMMAND_CATALOGUE, type CommandInfo } from '../../lib/protocol/command-catalogue';
import { ERROR_CODES } from '../../lib/protocol/errors';
import { assertValidEvent, commandProblems, eventProblems, jsonSchema } from '../helpers/json-schema';

/*
 * The JSON Schema (schema/mychat-json.v1.schema.json) is what bot authors code against, so it must match
 * what the JSON codec writes and what the command reader accepts. Ajv (draft 2020-12, strict mode) checks it.
 */

const AT = Date.UTC(2026, 11, 2, 10, 0, 0, 0);

/** One sample of every event type; the Record type makes this fail to compile when a type is added without one. */
const SAMPLES: Record<ChatEventType, ChatEvent[]> = {
  hello: [{ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome to mychat!' }],
  reply: [{ type: 'reply', command: 'JOIN', subject: '#dev', text: 'Now talking in #dev.' }],
  failure: ERROR_CODES.map((code) => ({ type: 'failure', code, text: 'Refused.' })),
  pong: [{ type: 'pong', token: '' }, { type: 'pong', token: 'abc 1' }],
  bye: [{ type: 'bye', text: 'Goodbye!' }],
  notice: [{ type: 'notice', text: 'The server restarts at noon.' }],
  message: [
    { type: 'message', room: '#dev', from: 'bob', id: 1042, at: AT, text: 'hi' },
    { type: 'message', room: '#dev', from: 'bob', at: AT, text: 'not stored' },
  ],
  action: [{ type: 'action', room: '#dev', from: 'bob', id: 7, at: AT, text: 'waves' }],
  paste: [{ type: 'paste', room: '#ops', from: 'logbot', pasteId: 'k3x', lines: ['one', '', 'three'], at: AT }],
  private: [{ type: 'private', from: 'bob', at: AT, text: 'lunch?' }],
  join: [{ type: 'join', room: '#dev', nick: 'alice' }],
  part: [{ type: 'part', room: '#dev', nick: 'alice', reason: '' }],
  quit: [{ type: 'quit', nick: 'alice', reason: 'Quit: lunch' }],
  nick: [{ type: 'nick', from: 'bob', to: 'bobby' }],
  topic: [{ type: 'topic', room: '#dev', by: 'alice', text: '' }],
  room: [{ type: 'room', room: '#dev', members: 2, topic: 'Release day' }],
  names: [{ type: 'names', label: '#dev', nicks: ['alice', 'bob'] }, { type: 'names', label: '*', nicks: [] }],
  whois: [{ type: 'whois', nick: 'bob', rooms: ['#lobby', '#dev'], connectedAt: AT, idleSeconds: 0 }],
  help: [{ type: 'help', command: '*', text: '/msg NICK TEXT' }],
  history: [
    { type: 'history', room: '#dev', id: 1, at: AT, from: 'bob', kind: 'MSG', text: 'hi' },
    { type: 'history', room: '#dev', id: 2, at: AT, from: 'bob', kind: 'PASTE', text: 'a\nb' },
  ],
  'history-end': [{ type: 'history-end', room: '#dev', count: 0, text: 'No history.' }],
};

const eventDef = (type: string): Record<string, unknown> | undefined => jsonSchema.$defs[`event-${type}`];

test('every event type in CHAT_EVENT_TYPES has a subschema in the root oneOf, and no other is there', (t) => {
  const refs = jsonSchema.oneOf.map((entry) => entry.$ref);
  t.deepEqual([...refs].sort(), CHAT_EVENT_TYPES.map((type) => `#/$defs/event-${type}`).sort());
  for (const type of CHAT_EVENT_TYPES) {
    t.deepEqual((eventDef(type)?.properties as Record<string, unknown>).type, { const: type }, type);
    t.is(eventDef(type)?.additionalProperties, false, type);
  }
});

test('each subschema lists exactly the fields the JSON codec writes', (t) => {
  for (const type of CHAT_EVENT_TYPES) {
    t.deepEqual(Object.keys(eventDef(type)?.properties as object), ['type', ...JSON_EVENT_FIELDS[type]], type);
  }
});

test('the schema\'s error codes are exactly those of lib/protocol/errors.ts', (t) => {
  t.deepEqual(jsonSchema.$defs.errorCode, { enum: [...ERROR_CODES] });
});

test('a sample of every event type, encoded by the JSON codec, is valid', (t) => {
  const codec = jsonCodec();
  for (const type of CHAT_EVENT_TYPES) {
    t.true(SAMPLES[type].length > 0, type);
    for (const event of SAMPLES[type]) {
      const line = codec.encode(event).toString('utf8');
      t.true(line.endsWith('\r\n'));
      assertValidEvent(t, line.slice(0, -2));
    }
  }
});

test('invalid events fail validation: unknown type, missing, extra or mistyped fields, bad times', (t) => {
  const good = { type: 'message', room: '#dev', from: 'bob', id: 1042, at: '2026-12-02T10:00:00.000Z', text: 'hi' };
  t.is(eventProblems(good), '');
  const bad: Record<string, unknown>[] = [
    { ...good, type: 'shout' },
    { text: 'hi' },
    { type: 'message', room: '#dev', from: 'bob', at: good.at },
    { ...good, colour: 'red' },
    { ...good, id: '1042' },
    { ...good, id: 1.5 },
    { ...good, at: 1_796_205_600_000 },
    { ...good, at: '2026-12-02T10:00:00Z' },
    { ...good, at: '2026-13-45T10:00:00.000Z' },
    { ...good, room: 'dev' },
    { type: 'failure', code: 'NOT_A_CODE', text: 'x' },
    { type: 'names', label: '#dev', nicks: 'alice bob' },
    { type: 'paste', room: '#ops', from: 'bot', pasteId: 'k', lines: [], at: good.at },
    { type: 'history', room: '#dev', id: 1, at: good.at, from: 'bob', kind: 'SHOUT', text: 'x' },
    { type: 'room', room: '#dev', members: -1, topic: '' },
  ];
  for (const value of bad) t.not(eventProblems(value), '', JSON.stringify(value));
  t.not(eventProblems([good]), '');
  t.not(eventProblems('message'), '');
});

test('the command schema covers every catalogue command with the fields the reader derives', (t) => {
  const catalogue = COMMAND_CATALOGUE as readonly CommandInfo[];
  const defs = Object.keys(jsonSchema.$defs).filter((key) => key.startsWith('cmd-')).sort();
  t.deepEqual(defs, ['cmd-say', ...catalogue.map((info) => `cmd-${info.name}`)].sort());
  for (const info of catalogue) {
    const def = jsonSchema.$defs[`cmd-${info.name}`]!;
    const fields = jsonFieldsOf(info).map((f) => f.field);
    t.deepEqual(Object.keys(def.properties as object), ['cmd', ...fields, ...(info.name === 'paste' ? ['text'] : [])], info.name);
    t.deepEqual(def.required, ['cmd', ...jsonFieldsOf(info).filter((f) => !f.arg.optional).map((f) => f.field), ...(info.name === 'paste' ? ['text'] : [])], info.name);
  }
});

test('command objects the schema accepts are accepted by the server, and some it refuses are refused by both', (t) => {
  const good = [
    { cmd: 'say', text: 'hello' },
    { cmd: 'msg', nick: 'bob', text: 'hi' },
    { cmd: 'join', room: '#dev' },
    { cmd: 'nick', name: 'alice' },
    { cmd: 'history', room: '#dev', n: 5, before: 1042 },
    { cmd: 'replay', replay: 'on' },
    { cmd: 'paste', room: '#ops', text: 'one\ntwo' },
    { cmd: 'quit' },
  ];
  for (const value of good) {
    t.is(commandProblems(value), '', JSON.stringify(value));
    t.true(jsonInputLines(JSON.stringify(value)).ok, JSON.stringify(value));
  }
  const bad = [
    { cmd: 'say', text: '  ' },
    { cmd: 'msg', nick: 'bob' },
    { cmd: 'msg', nick: 'bob x', text: 'hi' },
    { cmd: 'msg', nick: 'bob', text: 'a\nb' },
    { cmd: 'join', room: 'dev' },
    { cmd: 'join', room: '#dev', key: 'x' },
    { cmd: 'history', n: '5' },
    { cmd: 'replay', replay: 'maybe' },
    { cmd: 'frobnicate' },
    { room: '#dev' },
  ];
  for (const value of bad) {
    t.not(commandProblems(value), '', JSON.stringify(value));
    t.false(jsonInputLines(JSON.stringify(value)).ok, JSON.stringify(value));
  }
});

/** The JSON MODE section of mychat-protocol(7), with the roff escapes of its examples undone. */
function manSection(): string {
  const page = readFileSync(path.join(__dirname, '..', '..', 'man', 'mychat-protocol.7'), 'utf8');
  const start = page.indexOf('\n.SH JSON MODE\n');
  const end = page.indexOf('\n.SH ', start + 1);
  return start < 0 ? '' : page.slice(start, end).replace(/\\-/g, '-').replace(/\\e/g, '\\');
}

test('mychat-protocol(7) has an entry for every event type, and its every JSON example is valid', (t) => {
  const section = manSection();
  t.not(section, '', 'the page has a JSON MODE section');
  for (const type of CHAT_EVENT_TYPES) t.true(section.includes(`\n.TP\n.B ${type}\n`), `entry for ${type}`);
  const examples = section.split('\n').filter((line) => line.startsWith('{'));
  const events = examples.filter((line) => line.startsWith('{"type"')).map((line) => JSON.parse(line) as { type: string });
  t.deepEqual([...new Set(events.map((e) => e.type))].sort(), [...CHAT_EVENT_TYPES].sort(), 'an example of every event type');
  for (const event of events) assertValidEvent(t, event);
  const commands = examples.filter((line) => line.startsWith('{"cmd"')).map((line) => line.replace(/\s+\\fI.*$/, ''));
  t.true(commands.length >= COMMAND_CATALOGUE.length);
  for (const line of commands) {
    t.is(commandProblems(JSON.parse(line)), '', line);
    t.true(jsonInputLines(line).ok, line);
  }
});
