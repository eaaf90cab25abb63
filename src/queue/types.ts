// Transitional: the store moved to src/store/ (issue 11); removed once every import is updated.
export * from '../store/types.js';
