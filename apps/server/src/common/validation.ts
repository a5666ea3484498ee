import { type ValidationError,ValidationPipe } from '@nestjs/common';
import { type FieldError,validationFailed } from './errors';

function flatten(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    if (error.constraints) out.push({ field, errors: Object.values(error.constraints) });
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/** whitelist + forbid unknown fields; failures become `validation_failed` with one entry per field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => validationFailed(flatten(errors)),
  });
}
