/**
 * A process with the hub's safety net and two bugs that escape every handler: a throw from a
 * timer and a rejected promise nobody awaits. It must log both, count both, and keep running.
 */
import { createConsoleLogger } from '../../../server/logger'
import { installSafetyNet } from '../../../server/safety-net'

const faults: string[] = []
installSafetyNet(createConsoleLogger('info'), (origin) => faults.push(origin))

setTimeout(() => {
  throw new TypeError('a bug in a timer')
}, 10)
void Promise.reject(new Error('a promise nobody awaited'))

const alive = setInterval(() => {
  if (faults.length < 2) return
  clearInterval(alive)
  process.stdout.write(`still serving after ${faults.sort().join(', ')}\n`)
}, 20)
