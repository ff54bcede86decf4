import test from 'ava';
import { MAX_PRIVATE_WINDOWS, MAX_WINDOW_LINES, WindowList } from '../../lib/client/windows';

const MESSAGE = { message: true, mention: false };
const MENTION = { message: true, mention: true };
const EVENT = { message: false, mention: false };

function statusText(windows: WindowList): string {
  return windows.statusItems().map((item) => item.text).join(' ');
}

test('windows are numbered in the order they were opened; the first one opened becomes current', (t) => {
  const windows = new WindowList();
  t.is(windows.current, windows.status);
  const lobby = windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  t.is(windows.current, lobby);
  t.is(windows.byNumber(2), dev);
  t.is(windows.find('room', '#DEV'), dev, 'names match ignoring case, like the server');
  t.is(windows.open('room', '#Dev'), dev, 'opening an open window finds it');
  t.is(windows.all().length, 2);
});

test('lines for the current window are shown; others are kept and counted: messages, mentions, not joins', (t) => {
  const windows = new WindowList();
  const lobby = windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  const ops = windows.open('room', '#ops');
  t.deepEqual(windows.add(lobby, 'here', MESSAGE), { show: true, bell: false });
  t.deepEqual(windows.add(dev, 'a', MESSAGE), { show: false, bell: false });
  windows.add(dev, 'b', MESSAGE);
  windows.add(dev, 'joined', EVENT);
  windows.add(dev, 'c', MESSAGE);
  t.deepEqual(windows.add(ops, 'hey you', MENTION), { show: false, bell: true });
  t.is(statusText(windows), '[1:#lobby] [2:#dev 3] [3:#ops !1]');
  windows.add(ops, 'more', MESSAGE);
  t.is(statusText(windows), '[1:#lobby] [2:#dev 3] [3:#ops 2 !1]');
});

test('switching shows the window\'s lines with the unseen ones marked, and resets its counts', (t) => {
  const windows = new WindowList();
  windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  windows.add(dev, 'seen before', EVENT);
  windows.switchTo(dev);
  windows.switchTo(windows.byNumber(1)!);
  windows.add(dev, 'one', MESSAGE);
  windows.add(dev, 'two', MENTION);
  const view = windows.switchTo(dev);
  t.deepEqual(view.lines, ['seen before', 'one', 'two']);
  t.is(view.missed, 2);
  t.is(view.unread, 2);
  t.is(view.mentions, 1);
  t.is(view.number, 2);
  t.is(windows.current, dev);
  t.is(statusText(windows), '[1:#lobby] [2:#dev]');
  t.is(windows.switchTo(dev).missed, 0);
});

test('a window keeps at most MAX_WINDOW_LINES lines; unseen lines it forgot are counted', (t) => {
  const windows = new WindowList();
  windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  for (let i = 0; i < MAX_WINDOW_LINES + 7; i++) windows.add(dev, `line ${i}`, MESSAGE);
  const view = windows.switchTo(dev);
  t.is(view.lines.length, MAX_WINDOW_LINES);
  t.is(view.lines[0], 'line 7');
  t.is(view.missed, MAX_WINDOW_LINES);
  t.is(view.forgotten, 7);
  t.is(view.unread, MAX_WINDOW_LINES + 7);
});

test('own lines are kept but never count as unread and never ring', (t) => {
  const windows = new WindowList();
  windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  t.deepEqual(windows.add(dev, 'me', MENTION, true), { show: false, bell: false });
  t.is(statusText(windows), '[1:#lobby] [2:#dev]');
});

test('next and previous wrap around; closing the current window shows the one before it', (t) => {
  const windows = new WindowList();
  const a = windows.open('room', '#a');
  const b = windows.open('room', '#b');
  const c = windows.open('room', '#c');
  t.is(windows.neighbour(-1), c);
  t.is(windows.neighbour(1), b);
  windows.switchTo(c);
  t.is(windows.neighbour(1), a);
  windows.close(c);
  t.is(windows.current, b);
  t.is(statusText(windows), '[1:#a] [2:#b]');
  windows.close(a);
  t.is(windows.current, b, 'closing another window keeps the current one');
  t.is(windows.currentNumber, 1, 'and renumbers');
  windows.close(b);
  t.is(windows.current, windows.status);
});

test('private conversations are windows named by the nickname; the quietest is closed past the limit', (t) => {
  const windows = new WindowList();
  windows.open('room', '#lobby');
  const first = windows.open('private', 'bob');
  windows.add(first, 'hi', MENTION);
  t.is(statusText(windows), '[1:#lobby] [2:bob !1]');
  for (let i = 0; i < MAX_PRIVATE_WINDOWS; i++) windows.add(windows.open('private', `p${i}`), 'x', MENTION);
  t.is(windows.all().filter((w) => w.kind === 'private').length, MAX_PRIVATE_WINDOWS);
  t.is(windows.find('private', 'bob'), undefined, 'bob\'s window, the quietest, was closed');
});

test('QUIT and NICK concern the rooms where the nickname is a member and its private window', (t) => {
  const windows = new WindowList();
  const lobby = windows.open('room', '#lobby');
  const dev = windows.open('room', '#dev');
  const carl = windows.open('private', 'carl');
  windows.setMembers('#lobby', ['al', 'carl']);
  windows.setMembers('#dev', ['al']);
  windows.member('#dev', 'Carl', true);
  t.deepEqual(windows.windowsOf('CARL'), [lobby, dev, carl]);
  windows.member('#dev', 'carl', false);
  t.deepEqual(windows.windowsOf('carl', 'karl'), [lobby, carl]);
  t.is(carl.name, 'karl', 'the private window follows the new nickname');
  t.deepEqual(windows.windowsOf('karl'), [lobby, carl]);
  windows.forgetMember('karl');
  t.deepEqual(windows.windowsOf('karl'), [carl]);
});

test('lines before the first window move into it', (t) => {
  const windows = new WindowList();
  windows.add(undefined, 'welcome', EVENT);
  const lobby = windows.open('room', '#lobby');
  windows.adoptStatus(lobby);
  t.deepEqual(lobby.lines, ['welcome']);
  t.deepEqual(windows.status.lines, []);
});
