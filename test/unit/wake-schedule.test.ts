/** Wake-on-LAN's packet and addresses; the recurring schedules' times. */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { broadcastOf, magicPacket, wakeAddressOf } from '../../portal/hosts/wake.js';
import { missed, nextRun } from '../../portal/tasks/schedules.js';

const T = suite('wake and schedules');

T('the magic packet: six 0xFF bytes, then the MAC sixteen times (102 bytes); a bad MAC is refused', () => {
  const p = magicPacket('52:54:00:AB:cd:01');
  assert.is(p.length, 102);
  assert.is(p.subarray(0, 6).toString('hex'), 'ffffffffffff');
  for (let i = 0; i < 16; i++) assert.is(p.subarray(6 + i * 6, 12 + i * 6).toString('hex'), '525400abcd01');
  assert.throws(() => magicPacket('52:54:00:ab:cd'), /not a MAC address/);
  assert.throws(() => magicPacket('52:54:00:ab:cd:zz'), /not a MAC address/);
});

T("a subnet's broadcast address from the address a PC registered with", () => {
  assert.is(broadcastOf('10.77.0.12/24'), '10.77.0.255');
  assert.is(broadcastOf('10.1.2.3/23'), '10.1.3.255');
  assert.is(broadcastOf('172.16.5.4/16'), '172.16.255.255');
  assert.is(broadcastOf('192.168.1.9/30'), '192.168.1.11');
  assert.is(broadcastOf('10.0.0.1/4'), undefined, 'a prefix too wide is no lab subnet');
  assert.is(broadcastOf('300.0.0.1/24'), undefined);
  assert.is(broadcastOf('fe80::1/64'), undefined);
});

T('where to wake a host: the subnet of the NIC with its MAC; nowhere when it never registered one', () => {
  const inv = {
    nics: [
      { name: 'eth1', mac: '52:54:00:00:00:02', cidr: '192.168.9.5/24' },
      { name: 'eth0', mac: '52:54:00:00:00:01', cidr: '10.0.4.7/22' },
    ],
  };
  assert.is(wakeAddressOf('52:54:00:00:00:01', inv), '10.0.7.255');
  assert.is(wakeAddressOf('52:54:00:00:00:01', JSON.stringify(inv)), '10.0.7.255', 'as the portal stores it');
  assert.is(wakeAddressOf('52:54:00:00:00:09', inv), undefined);
  assert.is(wakeAddressOf('52:54:00:00:00:01', null), undefined);
});

T("the next run of a cron expression, in the schedule's time zone; bad expressions refused with the form to use", () => {
  const at = Date.parse('2026-12-03T07:00:00Z');
  assert.is(new Date(nextRun('30 2 * * *', at, 'UTC')).toISOString(), '2026-12-04T02:30:00.000Z');
  // Berlin is UTC+1 in December: 02:30 there is 01:30 UTC.
  assert.is(new Date(nextRun('30 2 * * *', at, 'Europe/Berlin')).toISOString(), '2026-12-04T01:30:00.000Z');
  // Weekdays only: Friday 2026-12-04, then Monday 2026-12-07.
  assert.is(new Date(nextRun('0 6 * * 1-5', Date.parse('2026-12-04T07:00:00Z'), 'UTC')).toISOString(), '2026-12-07T06:00:00.000Z');
  assert.is(new Date(nextRun('*/10 * * * * *', at, 'UTC')).toISOString(), '2026-12-03T07:00:10.000Z', 'six fields: seconds first');
  assert.throws(() => nextRun('30 2 * *', at), /give five fields/);
  assert.throws(() => nextRun('61 2 * * *', at), /cron "61 2 \* \* \*"/);
});

T('a run due an hour ago or more was missed (the portal was down): skipped rather than made at noon', () => {
  const due = Date.parse('2026-12-04T02:30:00Z');
  assert.not.ok(missed(due, due + 5_000));
  assert.not.ok(missed(due, due + 3_599_000));
  assert.ok(missed(due, due + 3_601_000));
});

T.run();
