// scripts/bench: nginx + njs checking the bench's HS256 access token as the gateway and HAProxy do (nginx-njs.in):
// header alg HS256, the HMAC-SHA256 signature (the key is the secret file's text, in $jwt_key), token_type access,
// exp in the future. The auth_request subrequest answers 204 (go on) or 401.
const crypto = require('crypto');

function json(part) {
    try {
        return JSON.parse(Buffer.from(part, 'base64url').toString());
    } catch (e) {
        return null;
    }
}

function valid(r) {
    const authorization = r.headersIn.Authorization;
    if (!authorization || !authorization.startsWith('Bearer ')) return false;
    const parts = authorization.slice(7).split('.');
    if (parts.length !== 3) return false;
    const header = json(parts[0]);
    if (!header || header.alg !== 'HS256') return false;
    const signature = crypto.createHmac('sha256', r.variables.jwt_key).update(parts[0] + '.' + parts[1]).digest('base64url');
    if (signature !== parts[2]) return false;
    const claims = json(parts[1]);
    return !!claims && claims.token_type === 'access' && typeof claims.exp === 'number' && claims.exp > Date.now() / 1000;
}

function check(r) {
    r.return(valid(r) ? 204 : 401);
}

export default { check };
