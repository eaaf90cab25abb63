/**
 * The baseline for the ingest comparison: a bare Fastify route that parses the same JSON body
 * and answers 202, with no validation, storage or logging.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
let counter = 0;
app.post('/v1/messages', async (_request, reply) => reply.code(202).send({ id: String(++counter), status: 'queued' }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ event: 'listening', url: address }) + '\n');
