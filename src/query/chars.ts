/** Character codes of the query grammar's punctuation, shared by the parser and its calls (`sort(…)`). */
export const AMP = 38; // &
export const PIPE = 124; // |
export const EQ = 61; // =
export const BANG = 33; // !
export const LT = 60; // <
export const GT = 62; // >
export const COMMA = 44; // ,
export const PERCENT = 37; // %
export const LPAREN = 40; // (
export const RPAREN = 41; // )
export const LBRACKET = 91; // [
export const RBRACKET = 93; // ]
export const LBRACE = 123; // {
export const RBRACE = 125; // }
