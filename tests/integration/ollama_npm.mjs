// SPDX-License-Identifier: ISC
// ollama_npm.mjs: the real ollama-js client (npm "ollama") against a
// peerwatch failover endpoint. Usage: node ollama_npm.mjs URL PHASE
//   PHASE all        list, chat and generate (streaming and not), embed,
//                    a missing model: each as against a real Ollama
//   PHASE midstream  a stream whose backend dies: ollama-js must throw the
//                    endpoint's error line, never see a done
// Prints the backends that answered (X-Peerwatch-Backend), one per line;
// exits 1 with a message on the first surprise.
import { Ollama } from 'ollama'
import assert from 'node:assert/strict'

const [host, phase] = process.argv.slice(2)
const seen = []
const fetchSpy = async (url, init) => {
	const res = await fetch(url, init)
	seen.push(res.headers.get('x-peerwatch-backend') || '-')
	return res
}
const c = new Ollama({ host, fetch: fetchSpy })
const want = 'The sky is blue because air scatters short '

async function all() {
	const list = await c.list()
	assert.ok(list.models.some((m) => m.name === 'tiny:latest'), 'list')

	let r = await c.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] })
	assert.equal(r.message.content, want, 'chat')
	assert.equal(r.done, true)

	let text = ''
	let last
	for await (const part of await c.chat({ model: 'tiny', messages: [], stream: true })) {
		text += part.message.content
		last = part
	}
	assert.equal(text, want, 'chat stream text')
	assert.equal(last.done, true, 'chat stream ends in done')

	r = await c.generate({ model: 'tiny', prompt: 'hi' })
	assert.equal(r.response, want, 'generate')
	text = ''
	let n = 0
	for await (const part of await c.generate({ model: 'tiny', prompt: 'hi', stream: true })) {
		text += part.response
		n++
	}
	assert.equal(text, want, 'generate stream text')
	assert.equal(n, 9, 'generate stream parts')

	r = await c.embed({ model: 'tiny', input: ['a', 'bb'] })
	assert.equal(r.embeddings.length, 2, 'embed')

	await assert.rejects(c.generate({ model: 'nope', prompt: 'x' }), (e) => {
		assert.equal(e.name, 'ResponseError')
		assert.equal(e.status_code, 404)
		assert.match(e.error, /"nope"/)
		return true
	}, 'missing model')
}

async function midstream() {
	let parts = 0
	await assert.rejects(async () => {
		for await (const part of await c.generate({ model: 'tiny', prompt: 'x', stream: true })) {
			assert.notEqual(part.done, true, 'a done after a death')
			parts++
		}
	}, /died mid-stream/, 'no error at the death')
	assert.ok(parts > 0, 'the stream had begun')
}

try {
	await (phase === 'midstream' ? midstream() : all())
	for (const b of seen) console.log(b)
} catch (e) {
	console.error(`ollama-js: ${e.message.split("\n").join(" ")}`)
	process.exit(1)
}
