import test from 'ava';
import { ConnectionBook } from '../../src/server/connection-book.js';

test('the connection book holds a total and a per-source limit, and frees what is released', (t) => {
  const book = new ConnectionBook({ maxConnections: 3, maxConnectionsPerIp: 2 });
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), '2 connections from a');
  t.is(book.admit('b'), undefined);
  t.is(book.admit('c'), '3 connections');
  book.release('a');
  t.is(book.admit('c'), undefined);
  book.release('b');
  book.release('c');
  book.release('a');
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), undefined);
});
