/** A nullable timestamp as the API's ISO-8601 string (or null). */
export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
