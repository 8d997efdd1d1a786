//! The dependency graph between fields: evaluation order, and the cycles that prevent one.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// Field `a` depends on field `b` when `a`'s relevance or calculation reads `b`, or `b`
/// encloses `a`.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    dependencies: Vec<BTreeSet<usize>>,
}

impl Graph {
    pub(crate) fn new(size: usize) -> Self {
        Graph {
            dependencies: vec![BTreeSet::new(); size],
        }
    }

    pub(crate) fn depends(&mut self, dependant: usize, dependency: usize) {
        self.dependencies[dependant].insert(dependency);
    }

    /// Dependencies first, stable in document order (Kahn's algorithm, always taking the
    /// lowest ready index). Fields on or behind a cycle are left out. A heap of ready fields
    /// keeps this O((fields + edges) log fields): compile runs over every row of an upload,
    /// even past the field limit, to report every error at once.
    pub(crate) fn order(&self) -> Vec<usize> {
        let size = self.dependencies.len();
        let mut waiting: Vec<usize> = self.dependencies.iter().map(BTreeSet::len).collect();
        let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); size];
        for (dependant, dependencies) in self.dependencies.iter().enumerate() {
            for &dependency in dependencies {
                if let Some(list) = dependants.get_mut(dependency) {
                    list.push(dependant);
                }
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..size)
            .filter(|&index| waiting[index] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(size);
        while let Some(Reverse(index)) = ready.pop() {
            order.push(index);
            for &dependant in &dependants[index] {
                waiting[dependant] -= 1;
                if waiting[dependant] == 0 {
                    ready.push(Reverse(dependant));
                }
            }
        }
        order
    }
}

/// The distinct cycles among the fields left out of `order`, each listed from its lowest index
/// in dependency direction.
pub(crate) fn find_cycles(graph: &Graph, order: &[usize]) -> Vec<Vec<usize>> {
    let size = graph.dependencies.len();
    let mut placed = vec![false; size];
    for &index in order {
        placed[index] = true;
    }
    let mut reported: BTreeSet<BTreeSet<usize>> = BTreeSet::new();
    let mut cycles = Vec::new();
    for start in (0..size).filter(|&index| !placed[index]) {
        // Every unplaced field has an unplaced dependency, so following them must loop.
        let mut walk = vec![start];
        let mut current = start;
        while let Some(&next) = graph.dependencies[current]
            .iter()
            .find(|&&dependency| !placed[dependency])
        {
            if let Some(position) = walk.iter().position(|&seen| seen == next) {
                let mut cycle = walk[position..].to_vec();
                let members: BTreeSet<usize> = cycle.iter().copied().collect();
                if reported.insert(members) {
                    let lowest = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, index)| **index)
                        .map(|(position, _)| position)
                        .unwrap_or(0);
                    cycle.rotate_left(lowest);
                    cycles.push(cycle);
                }
                break;
            }
            walk.push(next);
            current = next;
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first_and_finds_each_cycle_once() {
        let mut graph = Graph::new(5);
        graph.depends(0, 1);
        graph.depends(2, 3);
        graph.depends(3, 2);
        graph.depends(4, 2);
        let order = graph.order();
        assert_eq!(order, [1, 0]);
        assert_eq!(find_cycles(&graph, &order), [vec![2, 3]]);
    }
}
