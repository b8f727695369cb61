// Driven by broker/compat_kafkajs_test.go: with kafkajs, create a topic,
// read its metadata, produce two batches (one gzip-compressed) at acks=all
// and read the partitions' offsets back through the admin client. Prints
// one JSON document on stdout; kafkajs's own logs go to stderr.
//
// Usage: BROKER=host:port TOPIC=name node compat.js

'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

const broker = process.env.BROKER
const topic = process.env.TOPIC
if (!broker || !topic) {
  console.error('set BROKER and TOPIC')
  process.exit(2)
}

const stderrLogger = () => ({ namespace, level, label, log }) => {
  process.stderr.write(`${label} [${namespace}] ${JSON.stringify(log)}\n`)
}

const kafka = new Kafka({
  clientId: 'eddy-compat-kafkajs',
  brokers: [broker],
  logLevel: logLevel.WARN,
  logCreator: stderrLogger,
  retry: { retries: 2 }
})

// messages builds count records for a partition: the Go test rebuilds the
// same ones and compares them byte for byte.
function messages (batch, partition, count) {
  const out = []
  for (let i = 0; i < count; i++) {
    out.push({
      partition,
      key: `kafkajs-${batch}-${partition}-${i}`,
      value: `value ${batch}/${partition}/${i} ` + 'kafkajs '.repeat(i % 10),
      headers: { batch: String(batch), index: String(i) },
      timestamp: String(1600000000000 + batch * 1000 + i)
    })
  }
  return out
}

async function main () {
  const result = {}
  const admin = kafka.admin()
  await admin.connect()
  result.created = await admin.createTopics({
    topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
    waitForLeaders: true
  })
  result.createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  result.metadata = md.topics.map(t => ({
    name: t.name,
    partitions: t.partitions
      .map(p => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, error: p.partitionErrorCode }))
      .sort((a, b) => a.partition - b.partition)
  }))
  result.topics = (await admin.listTopics()).sort()

  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false })
  await producer.connect()
  result.produced = []
  for (const [batch, compression] of [[0, CompressionTypes.None], [1, CompressionTypes.GZIP]]) {
    const msgs = []
    for (let p = 0; p < 3; p++) msgs.push(...messages(batch, p, 5 + p))
    const meta = await producer.send({ topic, acks: -1, compression, messages: msgs })
    result.produced.push(...meta.map(m => ({ partition: m.partition, error: m.errorCode, baseOffset: m.baseOffset })))
  }
  await producer.disconnect()

  result.offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
  await admin.disconnect()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(err => {
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
