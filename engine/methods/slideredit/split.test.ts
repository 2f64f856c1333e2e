/**
 * Splitting instructions into sub-instructions: the automatic split (and, then, commas,
 * semicolons), odd input, and the user's own parts checked against the instruction.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../errors.js';
import { instructionParts, locateParts, parsePartList, splitInstruction } from './split.js';

const texts = (instruction: string) => splitInstruction(instruction).map((p) => p.text);

describe('splitInstruction', () => {
  it('splits on "and", "then", commas and semicolons, keeping each part\'s place', () => {
    const instruction = 'make the circle blue and move it left';
    expect(splitInstruction(instruction)).toEqual([
      { text: 'make the circle blue', start: 0, end: 20 },
      { text: 'move it left', start: 25, end: 37 },
    ]);
    expect(texts('make the sky red, add snow; then move it left')).toEqual(['make the sky red', 'add snow', 'move it left']);
    expect(texts('turn it into a circle and then make it orange, and move it up')).toEqual(['turn it into a circle', 'make it orange', 'move it up']);
    expect(texts('Make it red AND move it up THEN add a hat')).toEqual(['Make it red', 'move it up', 'add a hat']);
  });

  it('matches whole words only', () => {
    expect(texts('put a candle on the sand')).toEqual(['put a candle on the sand']);
    expect(texts('paint the android thenar')).toEqual(['paint the android thenar']);
    expect(texts('make it black-and-white and move it left')).toEqual(['make it black-and-white', 'move it left']);
    expect(texts('a then-new look, then blur')).toEqual(['a then-new look', 'blur']);
    expect(texts('make it blue')).toEqual(['make it blue']);
  });

  it('handles odd input: leading or trailing separators, repeats, empty pieces, spaces, unicode', () => {
    expect(texts('and make it blue and')).toEqual(['make it blue']);
    expect(texts(' , ; make it blue ,, , move it up ;')).toEqual(['make it blue', 'move it up']);
    expect(texts('make it bigger and make it bigger')).toEqual(['make it bigger', 'make it bigger']);
    expect(splitInstruction('make it bigger and make it bigger')[1]).toEqual({ text: 'make it bigger', start: 19, end: 33 });
    expect(texts('   ')).toEqual([]);
    expect(texts('and , then')).toEqual([]);
    expect(texts('rends le ciel rosé et ajoute de la neige, puis déplace-le')).toEqual(['rends le ciel rosé et ajoute de la neige', 'puis déplace-le']);
    expect(texts('make it\nblue\tand move it')).toEqual(['make it\nblue', 'move it']);
  });
});

describe('the user\'s split', () => {
  it('locates explicit parts in order, case-insensitively, with their ranges', () => {
    const instruction = 'Make the circle blue and move it left';
    expect(locateParts(instruction, ['make the circle blue and move it', ' left '])).toEqual([
      { text: 'Make the circle blue and move it', start: 0, end: 32 },
      { text: 'left', start: 33, end: 37 },
    ]);
    // the same words twice: each part takes the next occurrence
    expect(locateParts('make it bigger and make it bigger', ['make it bigger', 'make it bigger']).map((p) => p.start)).toEqual([0, 19]);
  });

  it('refuses parts that are empty, missing or out of order, naming them', () => {
    const instruction = 'make the circle blue and move it left';
    expect(() => locateParts(instruction, ['make it green'])).toThrow('sub-instruction "make it green" is not part of the instruction');
    expect(() => locateParts(instruction, ['move it left', 'make the circle blue'])).toThrow('sub-instruction "make the circle blue" is out of order in the instruction');
    expect(() => locateParts(instruction, ['  '])).toThrow('sub-instruction 1 is empty');
    expect(() => locateParts(instruction, ['move it', 'move it'])).toThrow('sub-instruction "move it" is named 2 times but occurs once in the instruction');
    expect(() => locateParts(instruction, [])).toThrow(EngineError);
    expect(() => locateParts(instruction, Array.from({ length: 17 }, () => 'it'))).toThrow('at most 16');
  });

  it('instructionParts takes the user\'s parts when given, else splits; an empty instruction is an error', () => {
    expect(instructionParts('make it blue and move it up').map((p) => p.text)).toEqual(['make it blue', 'move it up']);
    expect(instructionParts('make it blue and move it up', ['make it blue and move it up']).map((p) => p.text)).toEqual(['make it blue and move it up']);
    expect(instructionParts('make it blue and move it up', []).length).toBe(2);
    expect(() => instructionParts(' and ')).toThrow('the instruction is empty');
  });

  it('parses "a|b|c" lists', () => {
    expect(parsePartList('make it blue | move it up')).toEqual(['make it blue', 'move it up']);
    expect(() => parsePartList('a||b')).toThrow('part 2 of "a||b" is empty');
  });
});

describe('edge cases of the split', () => {
  it('does not split inside words of other scripts, "and/or", numbers with commas, or quoted text', () => {
    expect(texts('make the andén wet and add snow')).toEqual(['make the andén wet', 'add snow']);
    expect(texts('make it red and/or blue')).toEqual(['make it red and/or blue']);
    expect(texts('add 1,000 balloons, then make it dusk')).toEqual(['add 1,000 balloons', 'make it dusk']);
    expect(texts('add a sign saying "hello, world and then some" and move it up')).toEqual(['add a sign saying "hello, world and then some"', 'move it up']);
    expect(texts('add a sign saying “hi, there”, then blur it')).toEqual(['add a sign saying “hi, there”', 'blur it']);
    // inch marks are not quotes
    expect(texts('make it 6" wide, and add a 3" border, then blur it')).toEqual(['make it 6" wide', 'add a 3" border', 'blur it']);
  });

  it('leaves sentence punctuation at a part\'s end out of the part', () => {
    expect(splitInstruction('make the sky red and add snow.')).toEqual([
      { text: 'make the sky red', start: 0, end: 16 },
      { text: 'add snow', start: 21, end: 29 },
    ]);
    expect(texts('make it pop! and then blur it...')).toEqual(['make it pop', 'blur it']);
    expect(texts('...')).toEqual([]);
  });

  it('places a user\'s part at its earliest whole-word occurrence, whatever the case', () => {
    // "red" is also the end of "bored": the whole word wins
    expect(locateParts('make the bored cat red and add a hat', ['red', 'add a hat'])).toEqual([
      { text: 'red', start: 19, end: 22 },
      { text: 'add a hat', start: 27, end: 36 },
    ]);
    // the earliest place, even when only a later one has the exact case
    expect(locateParts('Make it bigger and make it bigger', ['make it bigger', 'make it bigger']).map((p) => p.start)).toEqual([0, 19]);
    expect(locateParts('Blur the face, then blur the face more', ['blur the face'])[0]).toEqual({ text: 'Blur the face', start: 0, end: 13 });
    // inside a word only when there is no whole-word place
    expect(locateParts('make it reddish', ['red'])[0]).toEqual({ text: 'red', start: 8, end: 11 });
    // regular-expression characters in a part are plain text
    expect(locateParts('make it (very) red', ['(very) red'])[0]!.start).toBe(8);
  });
});
