// A typed supabase.rpc(...) call of every RPC function of credential_vault, compiled (never run)
// against the types Supabase's generator gave for the schema public (database.types.ts, written
// by check-types). It compiles only if every call's arguments and result are typed: a result the
// generator could not type (`unknown`, or `any`) fails it.
import { createClient } from '@supabase/supabase-js'
import type { Database, Json } from './database.types'

/** Compiles only for a value whose type is neither `any` nor `unknown`. */
function typed<T>(
  _value: T,
  ..._notTyped: 0 extends 1 & T ? ['is any'] : unknown extends T ? ['is unknown'] : []
): void {}

type Reference = { vault_secret_id: string | null; created_at: string | null }
type Version = Reference & {
  state: string | null
  replaced_at: string | null
  destroy_after: string | null
}

const supabase = createClient<Database>('http://127.0.0.1:54321', 'anon-key')
const integration_id = '6496698f-7b1c-4900-9327-9ebe084f2da9'
const vault_secret_id = '8dbb932c-8a3f-4c36-9d43-1b5c7a0e3f21'
const credentials_json = JSON.stringify({ api_key: 'key' })
const expires_at = '2027-01-31T00:00:00Z'

export async function everyRpc(): Promise<void> {
  const stored = await supabase.rpc('vault_store_integration_credentials', {
    integration_id,
    credentials_json,
  })
  if (stored.error) throw stored.error
  typed(stored.data)
  const storedReference: Reference = stored.data

  const storedExpiring = await supabase.rpc('vault_store_integration_credentials', {
    integration_id,
    credentials_json,
    expires_at,
  })
  if (storedExpiring.error) throw storedExpiring.error
  typed(storedExpiring.data)
  const storedExpiringReference: Reference = storedExpiring.data

  const rotated = await supabase.rpc('vault_rotate_integration_credentials', {
    vault_secret_id,
    credentials_json,
  })
  if (rotated.error) throw rotated.error
  typed(rotated.data)
  const rotatedReference: Reference = rotated.data

  const rotatedExpiring = await supabase.rpc('vault_rotate_integration_credentials', {
    vault_secret_id,
    credentials_json,
    expires_at,
  })
  if (rotatedExpiring.error) throw rotatedExpiring.error
  typed(rotatedExpiring.data)
  const rotatedExpiringReference: Reference = rotatedExpiring.data

  const listed = await supabase.rpc('vault_list_integration_credentials', { integration_id })
  if (listed.error) throw listed.error
  typed(listed.data)
  const references: Reference[] = listed.data

  const versions = await supabase.rpc('vault_list_integration_credential_versions', {
    integration_id,
  })
  if (versions.error) throw versions.error
  typed(versions.data)
  const kept: Version[] = versions.data

  const restored = await supabase.rpc('vault_restore_integration_credentials', {
    vault_secret_id,
  })
  if (restored.error) throw restored.error
  typed(restored.data)
  const restoredReference: Reference = restored.data

  const retrieved = await supabase.rpc('vault_retrieve_integration_credentials', {
    vault_secret_id,
  })
  if (retrieved.error) throw retrieved.error
  typed(retrieved.data)
  const credentials: Json = retrieved.data

  const deleted = await supabase.rpc('vault_delete_integration_credentials', { vault_secret_id })
  if (deleted.error) throw deleted.error
  typed(deleted.data)
  const destroyed = await supabase.rpc('vault_destroy_integration_credentials', {
    vault_secret_id,
  })
  if (destroyed.error) throw destroyed.error
  typed(destroyed.data)

  console.log(
    storedReference.vault_secret_id,
    storedExpiringReference.created_at,
    rotatedReference.vault_secret_id,
    rotatedExpiringReference.vault_secret_id,
    references.length,
    kept.map((version) => version.state),
    restoredReference.vault_secret_id,
    credentials,
  )
}
