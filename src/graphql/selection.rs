//! An operation's selections as execution sees them: fragments expanded in place. The
//! extensions that read a parsed document (operation names, the alias census, field order)
//! walk it with these.

use std::collections::HashMap;

use async_graphql::{
    parser::types::{
        DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationDefinition,
        Selection, SelectionSet,
    },
    Name, Positioned,
};

/// Fragment spreads followed inside one another at most: validation refuses cycles, but runs
/// after the hooks that read a parsed document.
const MAX_SPREAD_DEPTH: usize = 16;

/// The operation the request runs, as async-graphql picks it.
pub(super) fn selected<'d>(
    document: &'d ExecutableDocument,
    requested: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&document.operations, requested) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    }
}

/// Calls `visit` with each field of `selections` in order, inline fragments and fragment
/// spreads expanded where they stand, and with the number of spreads it was found inside
/// (counting from `spread_depth`, where the caller's walk is): a caller that goes down into a
/// field's own selections passes that on, so that a cycle of spreads ends however it nests.
pub(super) fn for_each_field<'d>(
    fragments: &'d HashMap<Name, Positioned<FragmentDefinition>>,
    selections: &'d SelectionSet,
    spread_depth: usize,
    visit: &mut impl FnMut(&'d Positioned<Field>, usize),
) {
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) => visit(field, spread_depth),
            Selection::InlineFragment(fragment) => {
                for_each_field(
                    fragments,
                    &fragment.node.selection_set.node,
                    spread_depth,
                    visit,
                );
            }
            Selection::FragmentSpread(spread) => {
                let fragment = fragments.get(&spread.node.fragment_name.node);
                if let Some(fragment) = fragment.filter(|_| spread_depth < MAX_SPREAD_DEPTH) {
                    let selections = &fragment.node.selection_set.node;
                    for_each_field(fragments, selections, spread_depth + 1, visit);
                }
            }
        }
    }
}
