import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, suggest } from './suggest';

describe('suggest', () => {
  it('measures edits, counting a swap of neighbours as one', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('trian', 'train')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('finds the close candidate, or nothing', () => {
    expect(suggest('need', ['needs', 'uses', 'with'])).toBe('needs');
    expect(suggest('prep', ['prepare', 'train'])).toBe('prepare');
    expect(suggest('minAUC', ['minAuc', 'window'])).toBe('minAuc');
    expect(suggest('comand', ['command', 'echo'])).toBe('command');
    expect(suggest('xyz', ['needs', 'uses'])).toBeUndefined();
    expect(suggest('needs', ['needs'])).toBeUndefined();
    expect(didYouMean('stpes', ['steps', 'name'])).toBe(' (did you mean "steps"?)');
    expect(didYouMean('zzz', ['steps'])).toBe('');
  });
});
