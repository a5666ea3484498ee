import { Param, ParseUUIDPipe } from '@nestjs/common';
import { validationFailed } from './errors';

/** A path parameter that must be a UUID; anything else is a 400 naming the parameter. */
export const UuidParam = (name = 'id'): ParameterDecorator =>
  Param(
    name,
    new ParseUUIDPipe({
      exceptionFactory: () => validationFailed([{ field: name, errors: [`${name} must be a UUID`] }]),
    }),
  );
