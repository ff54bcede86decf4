import test from 'ava';
import { jsonFieldsOf, jsonInputLines } from '../../lib/codec/json-commands';
import { COMMAND_CATALOGUE, matchArgs, type CommandInfo } from '../../lib/protocol/command-catalogue';
import { ERROR_CODES } from '../../lib/protocol/errors';
import { LIMITS } from '../../lib/protocol/limits';
import { parseInput } from '../../lib/protocol/parse-input';

const lines = (input: string): string[] => {
  const result = jsonInputLines(input);
  if (!result.ok) throw new Error(`refused: ${result.code} ${result.text}`);
  return result.lines;
};
const refusal = (input: string): { code: string; text: string } => {
  const result = jsonInputLines(input);
  if (result.ok) throw new Error(`accepted as ${JSON.stringify(result.lines)}`);
  return { code: result.code, text: result.text };
};

test('JSON command objects become the line a person would type', (t) => {
  t.deepEqual(lines('{"cmd":"msg","nick":"bob","text":"hi there"}'), ['/msg bob hi there']);
  t.deepEqual(lines('{"cmd":"join","room":"#dev"}'), ['/join #dev']);
  t.deepEqual(lines('{"cmd":"nick","name":"alice"}'), ['/nick alice']);
  t.deepEqual(lines('{"cmd":"me","action":"waves"}'), ['/me waves']);
  t.deepEqual(lines('{"cmd":"part"}'), ['/part']);
  t.deepEqual(lines('{"cmd":"part","room":"#dev","reason":"#later, maybe"}'), ['/part #dev #later, maybe']);
  t.deepEqual(lines('{"cmd":"topic","room":"#dev","text":"Release day"}'), ['/topic #dev Release day']);
  t.deepEqual(lines('{"cmd":"replay","replay":"off"}'), ['/replay off']);
  t.deepEqual(lines('{"cmd":"ping","token":"42"}'), ['/ping 42']);
  t.deepEqual(lines('{"cmd":"help","command":"msg"}'), ['/help msg']);
});

test('numbers are JSON numbers and /history\'s "before" carries the id', (t) => {
  t.deepEqual(lines('{"cmd":"history","room":"#dev","n":5,"before":1042}'), ['/history #dev 5 before 1042']);
  t.deepEqual(lines('{"cmd":"history","before":7}'), ['/history before 7']);
  t.deepEqual(lines('{"cmd":"history","n":0}'), ['/history 0'], 'range checks are the command\'s own');
  t.is(refusal('{"cmd":"history","n":"5"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"history","n":1.5}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"history","n":-1}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"history","n":1e10}').code, 'BAD_ARGS');
});

test('aliases and any case of the command name are accepted, as in typed lines', (t) => {
  t.deepEqual(lines('{"cmd":"tell","nick":"bob","text":"hi"}'), ['/msg bob hi']);
  t.deepEqual(lines('{"cmd":"JOIN","room":"#dev"}'), ['/join #dev']);
});

test('"say" sends its text to the current room, escaping a leading "/"', (t) => {
  t.deepEqual(lines('{"cmd":"say","text":"hello"}'), ['hello']);
  t.deepEqual(lines('{"cmd":"say","text":"/join is how you join"}'), ['//join is how you join']);
  t.deepEqual(lines('{"cmd":"say","text":"  {indented}"}'), ['  {indented}']);
  t.is(refusal('{"cmd":"say","text":"   "}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"say"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"say","text":"a","room":"#x"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"say","text":"two\\nlines"}').code, 'BAD_ARGS');
});

test('a paste carries its lines in text: dot-stuffed, then the end line', (t) => {
  t.deepEqual(lines('{"cmd":"paste","room":"#ops","text":"one\\n.two\\n\\n."}'), ['/paste #ops', 'one', '..two', '', '..', '.']);
  t.deepEqual(lines('{"cmd":"paste","text":"x"}'), ['/paste', 'x', '.']);
  t.is(refusal('{"cmd":"paste","room":"#ops"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"paste","text":"a\\r\\nb"}').code, 'BAD_ARGS');
  t.is(refusal(JSON.stringify({ cmd: 'paste', text: 'x\n'.repeat(LIMITS.maxPasteLines) })).code, 'PASTE_TOO_LONG');
  t.is(lines(JSON.stringify({ cmd: 'paste', text: Array(LIMITS.maxPasteLines).fill('x').join('\n') })).length, LIMITS.maxPasteLines + 2);
});

test('a line not starting with "{" is a mychat line, passed on unchanged', (t) => {
  for (const line of ['hello', '/join #dev', ' {"cmd":"quit"}', '[1,2]', '']) t.deepEqual(lines(line), [line]);
});

test('refusals are typed: not JSON, not an object, no cmd, unknown cmd', (t) => {
  t.is(refusal('{"cmd":"join"').code, 'BAD_JSON');
  t.is(refusal('{cmd: "join"}').code, 'BAD_JSON');
  t.is(refusal('{"cmd":"join"} trailing').code, 'BAD_JSON');
  t.is(refusal('{}').code, 'BAD_JSON');
  t.is(refusal('{"cmd":7}').code, 'BAD_JSON');
  t.is(refusal('{"room":"#dev"}').code, 'BAD_JSON');
  const unknown = refusal('{"cmd":"frobnicate"}');
  t.is(unknown.code, 'UNKNOWN_COMMAND');
  t.regex(unknown.text, /frobnicate/);
  for (const code of ['BAD_JSON', 'UNKNOWN_COMMAND', 'BAD_ARGS', 'LINE_TOO_LONG', 'PASTE_TOO_LONG']) t.true((ERROR_CODES as readonly string[]).includes(code));
});

test('refusals are typed: missing, extra and wrongly typed fields name the field', (t) => {
  const missing = refusal('{"cmd":"msg","nick":"bob"}');
  t.is(missing.code, 'BAD_ARGS');
  t.regex(missing.text, /"text"/);
  const extra = refusal('{"cmd":"join","room":"#dev","key":"x"}');
  t.is(extra.code, 'BAD_ARGS');
  t.regex(extra.text, /"key".*"room"/);
  t.is(refusal('{"cmd":"join","room":["#dev"]}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":{"name":"#dev"}}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":true}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":null}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":"dev"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":""}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"replay","replay":"maybe"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"msg","nick":"bob","text":"  "}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"quit","__proto__":{"x":1}}').code, 'BAD_ARGS');
});

test('a value with CR, LF or NUL, or a space in a one-word argument, is refused, never split into lines', (t) => {
  for (const bad of ['hi\nthere', 'hi\rthere', 'hi\u0000there']) {
    const result = refusal(JSON.stringify({ cmd: 'msg', nick: 'bob', text: bad }));
    t.is(result.code, 'BAD_ARGS');
  }
  t.is(refusal('{"cmd":"msg","nick":"bob x","text":"hi"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"nick","name":"a\\tb"}').code, 'BAD_ARGS');
  t.is(refusal('{"cmd":"join","room":"#a\\n/quit"}').code, 'BAD_ARGS');
});

test('fields a line would read differently (a /part reason starting with "#" and no room) are refused', (t) => {
  const result = refusal('{"cmd":"part","reason":"#not a room"}');
  t.is(result.code, 'BAD_ARGS');
  t.regex(result.text, /\/part #not a room/);
});

test('a line longer than the protocol cap is refused before it is parsed', (t) => {
  const long = JSON.stringify({ cmd: 'say', text: 'x'.repeat(LIMITS.maxLineBytes) });
  t.is(refusal(long).code, 'LINE_TOO_LONG');
  // Byte count, not character count: 1400 three-byte characters fit in characters but not in bytes.
  t.is(refusal(JSON.stringify({ cmd: 'say', text: '☃'.repeat(1400) })).code, 'LINE_TOO_LONG');
  t.deepEqual(lines(JSON.stringify({ cmd: 'say', text: 'x'.repeat(LIMITS.maxLineBytes - 30) })), ['x'.repeat(LIMITS.maxLineBytes - 30)]);
});

test('every catalogue command has JSON fields derived from its arguments, none named "cmd", none twice', (t) => {
  for (const info of COMMAND_CATALOGUE as readonly CommandInfo[]) {
    const fields = jsonFieldsOf(info).map((f) => f.field);
    t.false(fields.includes('cmd'), info.name);
    t.is(new Set(fields).size, fields.length, info.name);
    for (const field of fields) t.regex(field, /^[a-z]+$/, `${info.name}: ${field}`);
  }
  t.deepEqual(jsonFieldsOf(COMMAND_CATALOGUE.find((c) => c.name === 'msg')!).map((f) => f.field), ['nick', 'text']);
  // A command added later gets its fields with no change here.
  const future: CommandInfo = { name: 'kick', args: [{ name: '#ROOM', kind: 'room' }, { name: 'NICK', kind: 'nick' }, { name: 'REASON', kind: 'text', optional: true }], help: '', states: ['registered'] };
  t.deepEqual(jsonFieldsOf(future).map((f) => f.field), ['room', 'nick', 'reason']);
});

test('for every command, a JSON object with every field given reads back through the line parser to the same arguments', (t) => {
  const sample = { word: 'on', nick: 'bob', room: '#dev', number: 12, text: 'some words here' } as const;
  for (const info of COMMAND_CATALOGUE as readonly CommandInfo[]) {
    const object: Record<string, unknown> = { cmd: info.name };
    for (const f of jsonFieldsOf(info)) object[f.field] = f.choices?.[0] ?? sample[f.arg.kind];
    if (info.name === 'paste') object.text = 'body';
    const [line] = lines(JSON.stringify(object));
    const parsed = parseInput(line!);
    t.is(parsed?.kind, 'command', info.name);
    if (parsed?.kind !== 'command') continue;
    t.is(parsed.name, info.name);
    const args = matchArgs(info, parsed.args);
    t.truthy(args, `${info.name}: ${line}`);
    for (const f of jsonFieldsOf(info)) t.is(args?.[f.arg.name], String(object[f.field]), `${info.name}.${f.field}`);
  }
});
