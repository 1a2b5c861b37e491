// A real OpenID Connect provider for the tests: panva's certified `oidc-provider` (npm,
// package.json devDependencies), one confidential client, PKCE S256 required, the
// development login and consent forms (any login name signs in; it becomes the `sub`).
// The claims of the scopes asked for go into the ID token too (`conformIdTokenClaims: false`),
// as Google's do: the relying party reads the address and name from it.
// Usage: node provider.mjs PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET; prints "ready".
import Provider from "oidc-provider";

const [port, redirectUri, clientId, clientSecret] = process.argv.slice(2);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  pkce: { required: () => true, methods: ["S256"] },
  cookies: { keys: ["a test provider's cookie key, not a secret"] },
  features: { devInteractions: { enabled: true } },
  conformIdTokenClaims: false,
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: `${id}@example.org`,
      email_verified: true,
      name: `${id[0].toUpperCase()}${id.slice(1)} Example`,
    }),
  }),
});
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
