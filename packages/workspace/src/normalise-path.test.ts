import { ValidationError } from '@agentyard/core';
import { normalisePath, pathProblem, scopeWorkspace, workspaceRoot, FsWorkspace } from './index';

describe('normalisePath', () => {
  it.each([
    ['a.txt', 'a.txt'],
    ['./a.txt', 'a.txt'],
    ['././a.txt', 'a.txt'],
    ['a//b///c', 'a/b/c'],
    ['a/./b/.', 'a/b'],
    ['docs/', 'docs'],
    ['a/b/c/', 'a/b/c'],
    ['...', '...'],
    ['.hidden/..file', '.hidden/..file'],
    ['spaces are fine.txt', 'spaces are fine.txt'],
    ['ünï/çødé/日本.txt', 'ünï/çødé/日本.txt'],
    ['emoji/\u{1F600}.txt', 'emoji/\u{1F600}.txt'],
  ])('normalises %j to %j', (input, expected) => {
    expect(pathProblem(input)).toBeUndefined();
    expect(normalisePath(input)).toBe(expected);
  });

  it.each([
    ['', 'must not be empty'],
    ['.', 'must not be empty'],
    ['./', 'must not be empty'],
    ['//', 'must be relative, not absolute'],
    ['/etc/passwd', 'must be relative, not absolute'],
    ['..', 'must not contain a ".." segment'],
    ['../x', 'must not contain a ".." segment'],
    ['a/../b', 'must not contain a ".." segment'],
    ['a/..', 'must not contain a ".." segment'],
    ['./../x', 'must not contain a ".." segment'],
    ['a\u0000b', 'must not contain NUL'],
    ['a\nb', 'must not contain control characters'],
    ['tab\there', 'must not contain control characters'],
    ['esc\u001b[31m', 'must not contain control characters'],
    ['del\u007f', 'must not contain control characters'],
    ['a\\b', 'must not contain a backslash'],
    ['..\\x', 'must not contain a backslash'],
    ['half\uD800pair', 'must be valid Unicode'],
    ['.~ay-tmp.0123456789abcdef', 'must not have a segment starting with ".~ay-tmp." (reserved for the workspace\'s temp files)'],
    ['dir/.~ay-tmp.x/file', 'must not have a segment starting with ".~ay-tmp." (reserved for the workspace\'s temp files)'],
  ])('rejects %j: %s', (input, problem) => {
    expect(pathProblem(input)).toBe(problem);
    expect(() => normalisePath(input)).toThrow(ValidationError);
  });

  it.each([
    { label: 'a 256-byte segment', input: 'x'.repeat(256), problem: 'must not have a segment longer than 255 bytes' },
    {
      label: 'a segment of 128 two-byte characters',
      input: 'é'.repeat(128),
      problem: 'must not have a segment longer than 255 bytes',
    },
    {
      label: 'a 1254-byte path',
      input: Array.from({ length: 5 }, () => 'y'.repeat(250)).join('/'),
      problem: 'must be at most 1024 bytes',
    },
  ])('rejects $label: $problem', ({ input, problem }) => {
    expect(pathProblem(input)).toBe(problem);
    expect(() => normalisePath(input)).toThrow(ValidationError);
  });

  it('accepts a 255-byte segment', () => {
    expect(normalisePath('x'.repeat(255))).toBe('x'.repeat(255));
  });

  it('accepts a path of exactly 1024 bytes, measured after normalising', () => {
    const p = [...Array.from({ length: 4 }, () => 'z'.repeat(250)), 'z'.repeat(20)].join('/');
    expect(Buffer.byteLength(p)).toBe(1024);
    expect(normalisePath(p)).toBe(p);
    expect(normalisePath(`./${p}/`)).toBe(p);
  });

  it('throws a ValidationError naming the given field, or path by default', () => {
    const named = (() => {
      try {
        normalisePath('../x', 'steps[0].args.path');
      } catch (e) {
        return e;
      }
    })() as ValidationError;
    expect(named).toBeInstanceOf(ValidationError);
    expect(named.code).toBe('invalid_request');
    expect(named.status).toBe(400);
    expect(named.details).toEqual([{ path: 'steps[0].args.path', message: 'must not contain a ".." segment' }]);
    expect(() => normalisePath('/x')).toThrow('path: must be relative, not absolute');
  });
});

describe('workspaceRoot', () => {
  it('builds tenants/<tenant>/workspaces/<id>', () => {
    expect(workspaceRoot('acme', 'ws_123')).toBe('tenants/acme/workspaces/ws_123');
  });

  it.each([
    ['..', 'w'],
    ['a/b', 'w'],
    ['acme', ''],
    ['acme', '../globex'],
    ['acme', 'x/y'],
  ])('rejects tenant %j with workspace %j', (tenant, id) => {
    expect(() => workspaceRoot(tenant, id)).toThrow(ValidationError);
  });
});

describe('scopeWorkspace', () => {
  it('rejects a root that is not a valid path', () => {
    const ws = new FsWorkspace({ dir: '/nonexistent-never-touched' });
    expect(() => scopeWorkspace(ws, '../up')).toThrow(ValidationError);
    expect(() => scopeWorkspace(ws, '')).toThrow(ValidationError);
  });
});
