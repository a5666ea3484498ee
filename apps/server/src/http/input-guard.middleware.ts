import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { validationFailed } from '../common/errors';
import { sendError } from '../common/http-error.filter';
import { findInputProblem, type InputProblem } from '../common/input-guard';

/** The first problem in the decoded path (route parameters come from it), or null. */
function pathProblem(path: string): InputProblem | null {
  // Only a percent sign can smuggle NUL or a surrogate into a path: skip the decode otherwise.
  if (!path.includes('%')) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { field: 'path', errors: ['path is not valid percent-encoded UTF-8'] };
  }
  return findInputProblem(decoded, 'path');
}

/**
 * Every REST and MCP request, after the body parsers and before routing: NUL bytes, unpaired
 * surrogates (in keys and values of the body and query, and in the path) and JSON nested deeper
 * than MAX_JSON_DEPTH are a 400 `validation_failed` naming the field, never a 500 from PostgreSQL
 * or a stack overflow in class-transformer. One iterative walk per request.
 */
export function inputGuard(logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // Field paths as the ValidationPipe names them (`payload.a[3]`, `cursor`), without a prefix.
    const problem = pathProblem(req.path) ?? findInputProblem(req.query, 'query') ?? findInputProblem(req.body, 'body');
    if (!problem) return next();
    sendError(req, res, validationFailed([problem], 'The request contains input that cannot be accepted'), logger);
  };
}
